"""The health pool: claims deals whose health was requested, recomputes it, stores it, and announces a change.

Follows the durable-job pattern (`dealgraph.db.jobs`), as the embedding pool does: a lease renewed while it
works, the store fenced on its claimer id (and on the request it computed: a newer one queues the deal again),
failed attempts retried then failed, jobs handed back on shutdown. Each poll also queues the deals whose
health changes with time alone (`recheck_at`: a day-based warning starts or ends). A change of what the API
shows (status, warnings) is announced to `dealEvents` subscribers in the storing transaction.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.jobs import JobLease, poll_queue
from dealgraph.db.repositories import health, runs
from dealgraph.db.repositories.deal_events import HEALTH, deal_event
from dealgraph.db.session import Database, TenantScope
from dealgraph.deal_health.facts import read_facts
from dealgraph.services.health import shown, stored
from dealgraph.services.health_rules import assess
from dealgraph.stopping import finish_within

log = logging.getLogger(__name__)


class _LeaseLost(Exception):
    pass


class HealthPool:
    def __init__(self, database: Database, settings: Settings) -> None:
        self.database = database
        self.settings = settings
        self.claimer_id = new_claimer_id()

    async def run_once(self) -> bool:
        """Recompute one claimed deal's health; False when none was due."""
        claimed_at = asyncio.get_running_loop().time()
        async with self.database.autocommit() as connection:
            job = await health.claim(
                connection,
                claimer_id=self.claimer_id,
                lease_s=self.settings.health_lease_s,
                max_attempts=self.settings.health_max_attempts,
            )
        if job is None:
            return False
        lease = JobLease(
            self.database, health.HEALTH_QUEUE, job.deal_id, self.claimer_id, self.settings.health_lease_s, claimed_at
        )
        keeper = asyncio.create_task(lease.keep(on_lost=lambda: None), name=f"health-lease-{job.deal_id}")
        try:
            await self._recompute(job)
        except _LeaseLost:
            log.info("health of deal %s was taken over by another pool; result discarded", job.deal_id)
        except Exception as error:  # one bad deal must not stop the queue: retried, then marked failed
            log.exception("computing the health of deal %s failed (attempt %d)", job.deal_id, job.attempts)
            async with self.database.autocommit() as connection:
                await health.give_back(connection, job, self.claimer_id, str(error), self.settings.health_max_attempts)
        finally:
            keeper.cancel()
        return True

    async def _recompute(self, job: health.ClaimedHealth) -> None:
        scope = TenantScope(self.database, job.tenant_id)
        read = await read_facts(scope, job.deal_id, datetime.now(UTC), self.settings.embedding_model)
        if read is None:  # the deal was deleted meanwhile (its job row with it)
            return
        assessment = assess(read.facts, read.settings, read.previous)
        changed = shown(assessment) != read.shown
        async with self.database.tenant_session(job.tenant_id) as session:
            version = await health.store(session, job, self.claimer_id, stored(assessment), changed)
            if version is None:
                raise _LeaseLost
            if changed:
                await runs.notify(session, [deal_event(HEALTH, job.tenant_id, job.deal_id, version=version)])

    async def tick(self) -> None:
        """The periodic chores: fail jobs whose pool died on their last attempt, queue deals due by time."""
        async with self.database.autocommit() as connection:
            await health.fail_exhausted(connection, self.settings.health_max_attempts)
            await health.queue_due(connection)

    async def run(self) -> None:
        """Recompute until cancelled, then hand the job in hand back to the queue."""
        await poll_queue(
            self.database,
            health.HEALTH_QUEUE,
            self.claimer_id,
            chores=self.tick,
            run_once=self.run_once,
            poll_s=self.settings.health_poll_s,
            name="health pool",
            pool_log=log,
        )


@asynccontextmanager
async def health_pool(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Run the pool for the app's lifetime, where enabled."""
    if not settings.health_pool:
        yield
        return
    task = asyncio.create_task(HealthPool(database, settings).run(), name="health-pool")
    try:
        yield
    finally:
        task.cancel()
        await finish_within("stopping the health pool", asyncio.wait({task}), settings.shutdown_timeout_s)
