"""Holding a claimed run through a short database outage, so a result that was paid for is not lost.

Once a Claude call has succeeded, re-running the agent bills it again. So while the database is
unreachable the worker keeps trying, with bounded backoff, both to extend the run's lease and to
write the run's outcome, but only while the lease is valid by the worker's own clock: after that
another worker may rightly have claimed the run (and `finish_run`, conditional on the worker id,
would refuse the write anyway).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable

from dealgraph.db.outage import is_outage
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database

log = logging.getLogger(__name__)

_FIRST_RETRY_S = 0.1
_MAX_RETRY_S = 2.0


class RunLease:
    """A worker's hold on one claimed run, and how long it lasts as far as the worker can tell."""

    def __init__(
        self, database: Database, run_id: uuid.UUID, worker_id: str, lease_s: float, claimed_at: float
    ) -> None:
        self.database = database
        self.run_id = run_id
        self.worker_id = worker_id
        self.lease_s = lease_s
        self._valid_until = claimed_at + lease_s  # `claimed_at` is read before the claim: never optimistic

    @property
    def remaining_s(self) -> float:
        return self._valid_until - asyncio.get_running_loop().time()

    async def keep(self, on_lost: Callable[[], None]) -> None:
        """Extend the lease until cancelled; `on_lost` once the run is no longer this worker's."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.lease_s / 3)
            asked_at = loop.time()
            try:
                async with self.database.owner_session() as session:
                    ours = await runs.extend_lease(session, self.run_id, self.worker_id, self.lease_s)
            except Exception as error:
                if not is_outage(error):
                    raise
                log.warning("could not extend the lease of run %s (database unreachable: %s)", self.run_id, error)
                continue
            if not ours:
                on_lost()
                return
            self._valid_until = asked_at + self.lease_s


async def record_outcome(database: Database, claimed: runs.ClaimedRun, lease: RunLease, outcome: runs.Outcome) -> bool:
    """`finish_run`, retried with backoff through a database outage while the lease lasts."""
    delay = _FIRST_RETRY_S
    while True:
        try:
            async with database.autocommit() as connection:
                return await runs.finish_run(connection, claimed, lease.worker_id, outcome)
        except Exception as error:
            if not is_outage(error):
                raise
            if lease.remaining_s <= delay:
                log.error(
                    "run %s: outcome not recorded, its lease lapsed while the database was unreachable", claimed.id
                )
                return False
            log.warning("run %s: recording the outcome failed (database unreachable: %s); retrying", claimed.id, error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, _MAX_RETRY_S)
