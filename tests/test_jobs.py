"""The durable-job pattern (`dealgraph.db.jobs`) on both of its queues, agent runs and embedding jobs: a claimer
that lost its lease writes nothing, attempts run out, a pool's jobs go back to the queue on shutdown.

The app here runs no analysis pool and no embedding pool: the tests are the only claimers, so every claim,
lapse and write happens when the test says.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import text
from starlette.applications import Starlette
from strawberry.relay import GlobalID

from dealgraph.config import Settings
from dealgraph.db.jobs import Executor, JobQueue
from dealgraph.db.models import RunStatus
from dealgraph.db.repositories import runs, search_jobs
from dealgraph.db.session import Database
from dealgraph.standin import RunningStandin
from tests.analysis_support import start, transcript_for_analysis
from tests.support import GraphQLClient, TenantFactory, make_settings, wait_for


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)


@dataclass(frozen=True)
class Queue:
    """What the tests need of one queue: make a job, claim it, and write its end as a given claimer."""

    name: str
    queue: JobQueue
    new_job: Callable[[Database, GraphQLClient, TenantFactory], Awaitable[uuid.UUID]]
    claim: Callable[[Executor, str, float, int], Awaitable[Any]]
    """A claimed job (None: nothing claimable) as the queue's own type."""
    key: Callable[[Any], uuid.UUID]
    finish: Callable[[Database, Any, str], Awaitable[bool]]
    fail_exhausted: Callable[[Executor, int], Awaitable[int]]


async def _new_run(database: Database, gql: GraphQLClient, tenants: TenantFactory) -> uuid.UUID:
    who = await tenants.create()
    analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"], agents=["MEDDPICC"])
    async with database.owner_session() as session:
        run = await session.scalar(
            text("SELECT id FROM agent_runs WHERE analysis_id = :analysis"),
            {"analysis": uuid.UUID(GlobalID.from_id(analysis["id"]).node_id)},
        )
    assert isinstance(run, uuid.UUID)
    return run


async def _claim_run(executor: Executor, claimer_id: str, lease_s: float, max_attempts: int) -> Any:
    claim = await runs.claim_runs(
        executor, claimer_id=claimer_id, limit=1, cluster_cap=100, lease_s=lease_s, max_attempts=max_attempts
    )
    return claim.runs[0] if claim.runs else None


async def _finish_run(database: Database, claimed: runs.ClaimedRun, claimer_id: str) -> bool:
    async with database.autocommit() as connection:
        return await runs.finish_run(connection, claimed, claimer_id, runs.Outcome(RunStatus.SUCCEEDED, result={}))


async def _new_embedding_job(database: Database, gql: GraphQLClient, tenants: TenantFactory) -> uuid.UUID:
    transcript = (await transcript_for_analysis(gql, await tenants.create()))["transcript"]
    return uuid.UUID(GlobalID.from_id(transcript).node_id)


async def _claim_embedding_job(executor: Executor, claimer_id: str, lease_s: float, max_attempts: int) -> Any:
    return await search_jobs.claim(executor, claimer_id=claimer_id, lease_s=lease_s, max_attempts=max_attempts)


async def _finish_embedding_job(database: Database, job: search_jobs.ClaimedJob, claimer_id: str) -> bool:
    async with database.owner_session() as session:
        return await search_jobs.finish(session, job, claimer_id, "some-model")


QUEUES = [
    Queue(
        "agent runs",
        runs.RUN_QUEUE,
        _new_run,
        _claim_run,
        lambda claimed: claimed.id,
        _finish_run,
        runs.fail_exhausted_runs,
    ),
    Queue(
        "embedding jobs",
        search_jobs.EMBEDDING_QUEUE,
        _new_embedding_job,
        _claim_embedding_job,
        lambda job: job.transcript_id,
        _finish_embedding_job,
        search_jobs.fail_exhausted,
    ),
]


@pytest.fixture(params=QUEUES, ids=[queue.name for queue in QUEUES])
async def queue(request: pytest.FixtureRequest) -> Queue:
    return request.param  # type: ignore[no-any-return]


async def _only(database: Database, queue: Queue, job: uuid.UUID) -> None:
    """Leave `job` the only claimable one of its queue (earlier tests' jobs, and the embedding jobs the
    agent-run tests' transcripts queued, are ended)."""
    table, key = queue.queue.table, queue.queue.key
    async with database.owner_session() as session:
        await session.execute(
            text(f"UPDATE {table} SET status = 'failed' WHERE status IN ('queued', 'running') AND {key} <> :job"),
            {"job": job},
        )


async def _row(database: Database, queue: Queue, job: uuid.UUID) -> tuple[str, int, str | None]:
    table, key = queue.queue.table, queue.queue.key
    async with database.owner_session() as session:
        row = (
            await session.execute(
                text(f"SELECT CAST(status AS text), attempts, worker_id FROM {table} WHERE {key} = :job"), {"job": job}
            )
        ).one()
    return row[0], row[1], row[2]


async def _lease_lapsed(database: Database, queue: Queue, job: uuid.UUID) -> None:
    """Wait for the database's clock to pass the job's lease (short in these tests)."""
    table, key = queue.queue.table, queue.queue.key

    async def lapsed() -> bool:
        async with database.owner_session() as session:
            return bool(
                await session.scalar(
                    text(f"SELECT lease_expires_at < now() FROM {table} WHERE {key} = :job"), {"job": job}
                )
            )

    await wait_for(lapsed)


async def test_a_claimer_that_lost_its_lease_writes_nothing(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, queue: Queue
) -> None:
    database: Database = app.state.database
    job = await queue.new_job(database, gql, tenants)
    await _only(database, queue, job)
    async with database.autocommit() as connection:
        stale = await queue.claim(connection, "stale", 0.2, 3)
    assert stale is not None and queue.key(stale) == job
    await _lease_lapsed(database, queue, job)
    async with database.autocommit() as connection:
        fresh = await queue.claim(connection, "fresh", 30, 3)
    assert fresh is not None and queue.key(fresh) == job  # the lapsed lease made it claimable again

    async with database.autocommit() as connection:
        assert not await queue.queue.renew(connection, job, "stale", 30)
        assert not await queue.queue.give_back(connection, job, "stale", "late failure", 3)
    assert not await queue.finish(database, stale, "stale")
    assert await _row(database, queue, job) == ("running", 2, "fresh")  # untouched by the stale claimer

    async with database.autocommit() as connection:
        assert await queue.queue.renew(connection, job, "fresh", 30)
    assert await queue.finish(database, fresh, "fresh")
    status, attempts, _ = await _row(database, queue, job)
    assert status in {"succeeded", "ready"} and attempts == 2


async def test_attempts_run_out_when_every_claimer_dies(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, queue: Queue
) -> None:
    database: Database = app.state.database
    job = await queue.new_job(database, gql, tenants)
    await _only(database, queue, job)
    for claimer in ("first", "second"):  # each claims, then "dies": its lease lapses unrenewed
        async with database.autocommit() as connection:
            assert await queue.claim(connection, claimer, 0.2, 2) is not None
        await _lease_lapsed(database, queue, job)
    async with database.autocommit() as connection:
        assert await queue.claim(connection, "third", 30, 2) is None  # its two attempts are used up
        assert await queue.fail_exhausted(connection, 2) == 1
        assert await queue.fail_exhausted(connection, 2) == 0
    status, attempts, _ = await _row(database, queue, job)
    assert (status, attempts) == ("failed", 2)


async def test_a_stopping_pool_hands_its_jobs_back_uncounted(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, queue: Queue
) -> None:
    database: Database = app.state.database
    job = await queue.new_job(database, gql, tenants)
    await _only(database, queue, job)
    async with database.autocommit() as connection:
        assert await queue.claim(connection, "stopping", 30, 3) is not None
        assert await queue.queue.release(connection, "stopping") == 1
    assert await _row(database, queue, job) == ("queued", 0, None)
    async with database.autocommit() as connection:  # claimable at once, not after the lease
        assert queue.key(await queue.claim(connection, "next", 30, 3)) == job
    assert (await _row(database, queue, job))[:2] == ("running", 1)
