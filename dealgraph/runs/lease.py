"""Holding a claimed run through a short database outage, so a result that was paid for is not lost.

Once a Claude call has succeeded, re-running the agent bills it again. So while the database is
unreachable the analysis pool keeps trying, with bounded backoff, both to extend the run's lease and
to write the run's outcome, but only while the lease is valid by the pool's own clock (`JobLease`):
after that another pool may rightly have claimed the run, and `finish_run`, fenced on the claimer id,
would refuse the write anyway.
"""

from __future__ import annotations

import uuid

from dealgraph.db.jobs import JobLease
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database


class RunLease(JobLease):
    """An analysis pool's hold on one claimed agent run."""

    def __init__(
        self, database: Database, run_id: uuid.UUID, claimer_id: str, lease_s: float, claimed_at: float
    ) -> None:
        super().__init__(database, runs.RUN_QUEUE, run_id, claimer_id, lease_s, claimed_at)


async def record_outcome(database: Database, claimed: runs.ClaimedRun, lease: RunLease, outcome: runs.Outcome) -> bool:
    """`finish_run`, retried with backoff through a database outage while the lease lasts."""

    async def finish() -> bool:
        async with database.autocommit() as connection:
            return await runs.finish_run(connection, claimed, lease.claimer_id, outcome)

    return await lease.retry_while_held(finish, "the outcome")
