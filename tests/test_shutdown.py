"""Stopping the app ends within DEALGRAPH_SHUTDOWN_TIMEOUT_S per step, whatever a step waits on
(`dealgraph.stopping`): a step that cannot finish is named in a WARNING and left behind."""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy import select

from dealgraph.db.models import AgentRun, RunStatus
from dealgraph.standin import RunningStandin
from harness.postgres import connected
from tests.analysis_support import START, transcript_for_analysis
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    asgi_client,
    make_settings,
    running_app,
    wait_for,
)

SHUTDOWN_S = 1.0
HANG_GUARD_S = 30.0
"""Far above every step's deadline, far below pytest-timeout's: a shutdown that hangs fails here, by name."""


async def test_a_claimed_run_that_cannot_be_handed_back_does_not_hold_the_shutdown(
    database_url: str, standin_server: RunningStandin, standin: StandinControl, caplog: pytest.LogCaptureFixture
) -> None:
    await standin.behave("action_items", held=True)  # the run stays claimed until the app stops
    settings = make_settings(
        database_url, standin_server.base_url, shutdown_timeout_s=SHUTDOWN_S, analysis_slots=1, lease_s=60.0
    )
    caplog.set_level(logging.WARNING, logger="dealgraph.stopping")
    async with connected(database_url) as locker, asyncio.timeout(HANG_GUARD_S):
        async with running_app(settings) as app, asgi_client(app) as http:
            gql = GraphQLClient(http)
            who = await TenantFactory(app.state.database).create()
            ids = await transcript_for_analysis(gql, who)
            await gql(START, {"t": ids["transcript"], "agents": ["ACTION_ITEMS"]}, as_=who)

            async def claimed() -> AgentRun | None:
                async with app.state.database.owner_session() as session:
                    return await session.scalar(
                        select(AgentRun).where(
                            AgentRun.tenant_id == who.tenant_id, AgentRun.status == RunStatus.RUNNING
                        )
                    )

            await wait_for(claimed, timeout=30)
            # Handing the run back on the way out now queues behind this lock, which outlives the app.
            lock = locker.transaction()
            await lock.start()
            await locker.execute("SELECT 1 FROM agent_runs WHERE tenant_id = $1 FOR UPDATE", who.tenant_id)
        await lock.rollback()
    abandoned = [record.getMessage() for record in caplog.records if record.name == "dealgraph.stopping"]
    assert len(abandoned) == 1 and "runs back did not finish within 1 s" in abandoned[0], abandoned
