"""The analysis pool: the job pool that claims agent runs from PostgreSQL and executes each in its own task.

Runs of one analysis are separate rows, so they are claimed and executed concurrently, and one
agent's failure is recorded on its own row only. A pool holds each run by a lease it keeps extending
(the durable-job pattern, `dealgraph.db.jobs`); if the process dies the lease expires and any pool
re-claims the run. Through a short database outage it keeps the lease and retries writing a finished
result (see `lease`). Pools wake on NOTIFY (a new run is queued) and also poll, so nothing depends on a
notification arriving. It runs in each API process by default, or alone (`dealgraph analysis-pool`).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import suppress

from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.models import RunStatus
from dealgraph.db.outage import log_failure, through_blips
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database
from dealgraph.fanout.hub import Event, NotificationHub
from dealgraph.runs.inferred_sides import record_inferred_sides
from dealgraph.runs.lease import RunLease, record_outcome
from dealgraph.runs.proposals import record_proposals
from dealgraph.runs.runner import AgentRunner
from dealgraph.stopping import finish_within

log = logging.getLogger(__name__)


class AnalysisPool:
    """Claims up to `analysis_slots` runs at a time, within the cluster-wide `llm_concurrency` cap."""

    def __init__(self, database: Database, hub: NotificationHub, runner: AgentRunner, settings: Settings) -> None:
        self.database = database
        self.hub = hub
        self.runner = runner
        self.settings = settings
        self.claimer_id = new_claimer_id()
        self._active: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._wakeup = asyncio.Event()
        self._more_waiting = True
        """Whether the last claim may have left claimable runs: only then does a freed slot claim again."""
        self._tasks: list[asyncio.Task[None]] = []
        hub.on_runs_queued(self._runs_queued)

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._claim_loop(), name="analysis-pool-claims"),
            asyncio.create_task(self._watch_cancellations(), name="analysis-pool-cancellations"),
            asyncio.create_task(self._sweep_exhausted_runs(), name="analysis-pool-sweeps"),
        ]
        log.info("analysis pool %s started with %d slots", self.claimer_id, self.settings.analysis_slots)

    async def stop(self) -> None:
        """Each step within DEALGRAPH_SHUTDOWN_TIMEOUT_S (`dealgraph.stopping`): runs left behind or not handed
        back are claimed again once their leases run out."""
        deadline_s = self.settings.shutdown_timeout_s
        tasks = [*self._tasks, *self._active.values()]
        for task in tasks:
            task.cancel()
        await finish_within(
            f"analysis pool {self.claimer_id}'s {len(self._active)} runs and its loops",
            asyncio.gather(*tasks, return_exceptions=True),
            deadline_s,
        )
        await finish_within("the run progress publisher", self.runner.close(), deadline_s)
        await finish_within(f"handing analysis pool {self.claimer_id}'s runs back", self._hand_back(), deadline_s)

    async def _hand_back(self) -> None:
        async with self.database.owner_session() as session:
            released = await runs.release_runs(session, self.claimer_id)
        if released:
            log.info("analysis pool %s handed %d unfinished runs back to the queue", self.claimer_id, released)

    @property
    def active_runs(self) -> int:
        return len(self._active)

    def _runs_queued(self) -> None:
        self._more_waiting = True
        self._wakeup.set()

    async def _claim_loop(self) -> None:
        while True:
            self._wakeup.clear()
            try:
                await self._claim()
            except Exception as error:  # a database hiccup must not end the pool; the next poll retries
                log_failure(log, error, "claiming runs")
            with suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), timeout=self.settings.poll_interval_s)

    async def _claim(self) -> None:
        free = self.settings.analysis_slots - len(self._active)
        if free <= 0:
            return
        claimed_at = asyncio.get_running_loop().time()
        async with self.database.autocommit() as connection:
            claim = await runs.claim_runs(
                connection,
                claimer_id=self.claimer_id,
                limit=free,
                cluster_cap=self.settings.llm_concurrency,
                lease_s=self.settings.lease_s,
                max_attempts=self.settings.max_run_attempts,
            )
        # A runs-queued notification arriving during the claim sets it again after this (and wakes the loop).
        self._more_waiting = claim.more_waiting
        if not claim.runs:
            return
        # The runs start at once; their start is announced meanwhile, and each waits for that before its
        # result or progress goes out, so `started` always comes first.
        announced = asyncio.create_task(self._announce_started(claim.runs), name="analysis-pool-started")
        for item in claim.runs:
            self._active[item.id] = asyncio.create_task(
                self._execute(item, claimed_at, announced), name=f"run-{item.id}"
            )

    async def _announce_started(self, claimed: list[runs.ClaimedRun]) -> None:
        """Never fails: the runs are this pool's now, and run whether or not their start was announced.

        Retried through a lost connection: sent twice, the analysis is marked running once and subscribers drop
        the repeated `started` (same seq)."""

        async def announce() -> None:
            async with self.database.autocommit() as connection:
                await runs.start_claimed(connection, claimed)

        try:
            await through_blips(announce)
        except Exception as error:
            log_failure(log, error, f"marking {len(claimed)} claimed runs started")

    async def _sweep_exhausted_runs(self) -> None:
        """Once per poll interval, off the claim's path: leases expire with time, not with each NOTIFY wake-up."""
        while True:
            try:
                async with self.database.autocommit() as connection:
                    await runs.fail_exhausted_runs(connection, self.settings.max_run_attempts)
            except Exception as error:  # a database hiccup must not end the pool; the next sweep retries
                log_failure(log, error, "failing exhausted runs")
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _execute(self, claimed: runs.ClaimedRun, claimed_at: float, announced: asyncio.Task[None]) -> None:
        run_id = claimed.id
        lease = RunLease(self.database, run_id, self.claimer_id, self.settings.lease_s, claimed_at)
        keeper = asyncio.create_task(lease.keep(on_lost=lambda: self._cancel(run_id)))
        try:
            outcome = await self.runner.run(claimed, announced)
            if outcome.status is RunStatus.SUCCEEDED:  # stored before the result is announced, so a reader sees both
                await record_inferred_sides(self.database, claimed, outcome.result)
                await record_proposals(self.database, claimed, outcome.result)
            await asyncio.shield(announced)  # shared by the claim's runs: cancelling this run must not cancel it
            await record_outcome(self.database, claimed, lease, outcome)
        except asyncio.CancelledError:
            pass  # cancelled by a user (already recorded), or the run was taken over, or shutdown
        finally:
            keeper.cancel()
            self._active.pop(run_id, None)
            if self._more_waiting:  # a slot is free and runs may be waiting (else: no claim that finds nothing)
                self._wakeup.set()

    async def _watch_cancellations(self) -> None:
        def cancelled_here(event: Event) -> bool:
            return event.get("kind") == "cancelled"

        async with self.hub.subscribe(cancelled_here) as subscription:
            while True:
                event = await subscription.queue.get()
                if event.get("run"):
                    self._cancel(uuid.UUID(event["run"]))

    def _cancel(self, run_id: uuid.UUID) -> None:
        if task := self._active.get(run_id):
            task.cancel()
