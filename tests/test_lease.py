"""Writing a run's outcome through an outage is bounded by the run's lease; only outages are retried."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from dealgraph.db.models import RunStatus
from dealgraph.db.outage import is_outage
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database
from dealgraph.runs.lease import RunLease, record_outcome
from harness.ports import free_port
from tests.factories import claimed_run
from tests.support import wait_for


@pytest.fixture
async def unreachable() -> AsyncIterator[Database]:
    """A database whose server is not running: every connection attempt is refused."""
    database = Database(f"postgresql://postgres@127.0.0.1:{free_port()}/gone", app_role="dealgraph_app")
    yield database
    await database.dispose()


def _lease(database: Database, remaining_s: float) -> RunLease:
    lease_s = 30.0
    claimed_at = asyncio.get_running_loop().time() - lease_s + remaining_s
    return RunLease(database, uuid.uuid4(), "worker", lease_s, claimed_at)


SUCCEEDED = runs.Outcome(RunStatus.SUCCEEDED, result={})


async def test_outcome_is_retried_while_the_lease_lasts_then_given_up(unreachable: Database) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await record_outcome(unreachable, claimed_run(), _lease(unreachable, remaining_s=1.0), SUCCEEDED) is False
    assert 0.5 <= loop.time() - started < 15  # it kept trying, and stopped once the lease was over


async def test_outcome_is_not_retried_once_the_lease_has_lapsed(unreachable: Database) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await record_outcome(unreachable, claimed_run(), _lease(unreachable, remaining_s=-1.0), SUCCEEDED) is False
    assert loop.time() - started < 5


async def test_a_failing_statement_is_not_an_outage(database_url: str) -> None:
    database = Database(database_url, app_role="dealgraph_app")
    try:
        with pytest.raises(DBAPIError) as raised:
            async with database.owner_session() as session:
                await session.execute(text("SELECT no_such_column FROM pg_class"))
        assert not is_outage(raised.value)
    finally:
        await database.dispose()


async def test_lease_keeper_survives_an_outage(unreachable: Database, caplog: pytest.LogCaptureFixture) -> None:
    lost: list[bool] = []
    lease = RunLease(unreachable, uuid.uuid4(), "worker", 0.3, asyncio.get_running_loop().time())
    with caplog.at_level(logging.WARNING, logger="dealgraph.runs.lease"):
        keeper = asyncio.create_task(lease.keep(on_lost=lambda: lost.append(True)))
        await wait_for(lambda: sum("could not extend the lease" in r.getMessage() for r in caplog.records) >= 3)
    assert not keeper.done(), keeper.exception() if keeper.done() else None
    keeper.cancel()
    assert lost == []  # unreachable is not "taken over": the run is not cancelled
