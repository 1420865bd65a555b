"""The durable-job pattern both job pools follow (agent runs, embedding jobs), after procrastinate's Postgres queue.

A job is a row with a status, the claimer id of the pool holding it (column `worker_id`), a lease deadline
and an attempt count:

- claim: the oldest claimable rows, `FOR UPDATE SKIP LOCKED`, so pools never wait on each other; the claim
  counts an attempt, writes the claimer id and starts the lease. Claimable: queued, or running under a
  lapsed lease (its pool died), with attempts left.
- fencing: every later write names the claimer and requires `running`; a pool that lost the job (it was
  re-claimed after its lease lapsed, or cancelled) writes nothing, and learns so from the row count.
- lease renewal: the holder extends its lease while it works (`JobLease`), also fenced.
- attempts: a job that used all its attempts is not claimed again; the sweep (`exhausted`) finds those
  whose pool died on the last one, for the queue to fail them.
- retry: a failed attempt goes back to the queue, or fails once the attempts are used up.
- hand back: on shutdown a pool returns its jobs to the queue, the interrupted attempt not counted.

Each queue is a `JobQueue`: its table and the few names that differ. The agent-run queue claims and
finishes through PostgreSQL functions instead (dealgraph/db/sql/claim_runs.sql, finish_run.sql): the same
steps, plus a cluster-wide cap, the analysis' settlement and events, in one round trip each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import Any, NamedTuple, TypeAlias

import asyncpg
from sqlalchemy import TextClause, text
from sqlalchemy.dialects.postgresql import asyncpg as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.outage import is_outage
from dealgraph.db.session import Database

log = logging.getLogger(__name__)

Executor: TypeAlias = AsyncSession | asyncpg.Connection
"""Where a statement runs: a session's transaction (a write that must commit with others), or a plain
asyncpg connection in autocommit (`Database.autocommit`: one round trip, no ORM)."""

_HELD = "{table}.{key} = :job AND {table}.worker_id = :claimer AND {table}.status = 'running'"
"""The fence: the job is still running under this claimer."""


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of fixed text, runnable in a session (named parameters) or on asyncpg (`$n`)."""

    clause: TextClause
    positional: str = field(init=False)
    names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        compiled = self.clause.compile(dialect=asyncpg_dialect.dialect())
        object.__setattr__(self, "positional", str(compiled))
        object.__setattr__(self, "names", tuple(compiled.positiontup or ()))

    async def rows(self, executor: Executor, **values: Any) -> Sequence[Sequence[Any]]:
        if isinstance(executor, AsyncSession):
            return (await executor.execute(self.clause, values)).all()
        return await executor.fetch(self.positional, *(values[name] for name in self.names))


@dataclass(frozen=True)
class JobQueue:
    """A table of jobs, what tells it apart from the other queues, and the pattern's statements on it.

    The statements are built once per queue (fixed text, so the driver's prepared-statement cache serves them)."""

    table: str
    key: str
    """The job's primary key."""
    fifo: str
    """Claims take the oldest jobs first, by this column."""
    status_type: str
    """The status column's type (an enum, or varchar): a computed status is cast to it."""

    def claim(self, returning: str) -> Statement:
        """Claims up to `:limit` jobs for `:claimer` under a `:lease`, returning `returning` of each."""
        return Statement(
            text(
                f"""
                WITH candidates AS (  -- a CTE runs once; an IN-subquery with LIMIT may be rescanned and over-claim
                    SELECT {self.key} FROM {self.table}
                    WHERE (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))
                      AND attempts < :max_attempts
                    ORDER BY {self.fifo}
                    LIMIT :limit
                    FOR UPDATE SKIP LOCKED
                )
                UPDATE {self.table} SET
                    status = 'running',
                    worker_id = :claimer,
                    lease_expires_at = now() + CAST(:lease AS interval),
                    attempts = {self.table}.attempts + 1,
                    updated_at = now()
                WHERE {self.key} IN (SELECT candidates.{self.key} FROM candidates)
                RETURNING {returning}
                """
            )
        )

    def fenced(self, assignments: str, returning: str | None = None) -> Statement:
        """An update of one job (`:job`) that writes only while `:claimer` holds it."""
        held = _HELD.format(table=self.table, key=self.key)
        statement = f"UPDATE {self.table} SET {assignments}, updated_at = now() WHERE {held}"
        return Statement(text(statement + (f" RETURNING {returning}" if returning else "")))

    @cached_property
    def _renewal(self) -> Statement:
        return self.fenced("lease_expires_at = now() + CAST(:lease AS interval)", returning=self.key)

    @cached_property
    def _retry(self) -> Statement:
        return self.fenced(
            f"status = CAST(CASE WHEN attempts >= :max_attempts THEN 'failed' ELSE 'queued' END AS {self.status_type}),"
            " error_message = :error, worker_id = NULL, lease_expires_at = NULL",
            returning="status",
        )

    @cached_property
    def _hand_back(self) -> Statement:
        return Statement(
            text(
                f"UPDATE {self.table} SET status = 'queued', worker_id = NULL, lease_expires_at = NULL,"
                " attempts = attempts - 1, updated_at = now()"
                f" WHERE worker_id = :claimer AND status = 'running' RETURNING {self.key}"
            )
        )

    @cached_property
    def _exhausted(self) -> Statement:
        return Statement(
            text(
                f"SELECT {self.key}, worker_id, attempts FROM {self.table}"
                " WHERE status = 'running' AND lease_expires_at < now() AND attempts >= :max_attempts"
            )
        )

    async def renew(self, executor: Executor, job: Any, claimer_id: str, lease_s: float) -> bool:
        """False once the job is no longer this claimer's (cancelled, or re-claimed after its lease lapsed)."""
        lease = timedelta(seconds=lease_s)
        return bool(await self._renewal.rows(executor, job=job, claimer=claimer_id, lease=lease))

    async def give_back(
        self, executor: Executor, job: Any, claimer_id: str, error: str, max_attempts: int
    ) -> str | None:
        """A failed attempt: queued again, or failed once its attempts are used up. The new status; None when
        the job was no longer this claimer's."""
        values = {"job": job, "claimer": claimer_id, "max_attempts": max_attempts, "error": error[:2000]}
        written = await self._retry.rows(executor, **values)
        return str(written[0][0]) if written else None

    async def release(self, executor: Executor, claimer_id: str) -> int:
        """Hand this claimer's jobs back to the queue (graceful shutdown) instead of waiting out their leases."""
        return len(await self._hand_back.rows(executor, claimer=claimer_id))

    async def lost(self, executor: Executor, max_attempts: int) -> list[LostJob]:
        """The running jobs whose pool died on their last attempt: the queue fails them."""
        return [LostJob(*row) for row in await self._exhausted.rows(executor, max_attempts=max_attempts)]


class LostJob(NamedTuple):
    job: Any
    claimer_id: str
    attempts: int


_FIRST_RETRY_S = 0.1
_MAX_RETRY_S = 2.0


class JobLease:
    """A pool's hold on one claimed job, and how long it lasts as far as the pool can tell.

    Renewed every third of the lease. Through a database outage the holder keeps the job (the renewal is
    retried with a short backoff; the job is not given up), but only while the lease is valid by the pool's own clock: after
    that another pool may rightly have claimed it, and the fence refuses the holder's writes anyway."""

    def __init__(
        self,
        database: Database,
        queue: JobQueue,
        job: Any,
        claimer_id: str,
        lease_s: float,
        claimed_at: float,
    ) -> None:
        self.database = database
        self.queue = queue
        self.job = job
        self.claimer_id = claimer_id
        self.lease_s = lease_s
        self._valid_until = claimed_at + lease_s  # `claimed_at` is read before the claim: never optimistic

    @property
    def remaining_s(self) -> float:
        return self._valid_until - asyncio.get_running_loop().time()

    async def keep(self, on_lost: Callable[[], None]) -> None:
        """Extend the lease until cancelled; `on_lost` once the job is no longer this claimer's."""
        loop = asyncio.get_running_loop()
        wait_s = self.lease_s / 3
        retry_s = _FIRST_RETRY_S
        while True:
            await asyncio.sleep(wait_s)
            asked_at = loop.time()
            try:
                async with self.database.autocommit() as connection:
                    ours = await self.queue.renew(connection, self.job, self.claimer_id, self.lease_s)
            except Exception as error:
                if not is_outage(error):
                    raise
                log.warning("could not extend the lease of job %s (database unreachable: %s)", self.job, error)
                # Soon, not a third of the lease later: a blip (a killed connection) is over in a moment, and
                # a few missed renewals in a row would hand a job that is still running to another pool.
                wait_s, retry_s = retry_s, min(retry_s * 2, _MAX_RETRY_S)
                continue
            if not ours:
                on_lost()
                return
            self._valid_until = asked_at + self.lease_s
            wait_s, retry_s = self.lease_s / 3, _FIRST_RETRY_S

    async def retry_while_held(self, write: Callable[[], Awaitable[bool]], what: str) -> bool:
        """`write` (a fenced write: False when the job is no longer ours), retried with backoff through a database
        outage while the lease lasts; False once the lease lapsed first."""
        delay = _FIRST_RETRY_S
        while True:
            try:
                return await write()
            except Exception as error:
                if not is_outage(error):
                    raise
                if self.remaining_s <= delay:
                    log.error(
                        "job %s: %s not recorded, its lease lapsed while the database was unreachable", self.job, what
                    )
                    return False
                log.warning("job %s: recording %s failed (database unreachable: %s); retrying", self.job, what, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_RETRY_S)


async def poll_queue(
    database: Database,
    queue: JobQueue,
    claimer_id: str,
    *,
    chores: Callable[[], Awaitable[object]],
    run_once: Callable[[], Awaitable[bool]],
    poll_s: float,
    name: str,
    pool_log: logging.Logger,
) -> None:
    """A one-job-at-a-time pool's life: each poll does its `chores` (sweeps), then `run_once` until it finds
    nothing; until cancelled, then the job in hand goes back to the queue instead of waiting out its lease.

    Example: `await poll_queue(db, EMBEDDING_QUEUE, me, chores=pool.sweep, run_once=pool.run_once, poll_s=1.0,
    name="embedding pool", pool_log=log)`."""
    try:
        while True:
            try:
                await chores()
                while await run_once():
                    pass
            except Exception:  # the database may be briefly away: keep polling
                pool_log.exception("%s poll failed", name)
            await asyncio.sleep(poll_s)
    finally:
        try:
            async with database.autocommit() as connection:
                await queue.release(connection, claimer_id)
        except Exception:  # shutting down regardless: the lease runs out and another pool takes the job
            pool_log.exception("%s %s could not hand its job back", name, claimer_id)
