"""The experiment pool: claims experiments (the durable-job pattern, `dealgraph.db.jobs`) and sends their
requests, as one Message Batch (BATCH) or through `LlmClient.complete`, as many at once as the analysis pool
has slots (LIVE).

A BATCH experiment's batch id is stored, fenced on the claim, as soon as the batch is created; a pool that
takes the experiment over (its holder stopped, or its lease lapsed) finds it and polls that batch instead of
sending the requests again. Each answer is stored only while its request is pending, so whichever pool reads
a batch's results, and however often, each request is stored, and billed, once. With the pairwise judge on,
its requests follow once every answer is stored (`ExperimentPool._judge`). Progress goes out as experiment
events (`experimentEvents`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from contextlib import suppress
from typing import Any

from dealgraph.claude.batches import LlmBatches
from dealgraph.claude.client import LlmClient, LlmError
from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.jobs import JobLease
from dealgraph.db.models import Experiment, RequestSide
from dealgraph.db.outage import log_failure
from dealgraph.db.repositories import experiments
from dealgraph.db.session import Database
from dealgraph.runs.experiment_answers import Pending, Prepared, answered, prepare
from dealgraph.runs.experiment_judge import judge_requests

log = logging.getLogger(__name__)

_SLOTS = 4
"""Experiments one pool holds at once: a BATCH experiment mostly waits on its batch."""


_STORED_AT_ONCE = 100
"""A batch's answers are stored this many per transaction (and progress event)."""

_ANSWERS = (RequestSide.BASELINE, RequestSide.CANDIDATE)
"""The sides whose requests are answers; the judge's compare them."""


class _LeaseLost(Exception):
    pass


async def _no_progress(_tokens: int) -> None:
    return None


class ExperimentPool:
    def __init__(self, database: Database, llm: LlmClient, settings: Settings) -> None:
        self.database = database
        self.llm = llm
        self.batches = LlmBatches(llm)
        self.settings = settings
        self.claimer_id = ""
        self._active: dict[uuid.UUID, asyncio.Task[None]] = {}
        self._loop_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Also after `stop`, as a pool of its own (a new claimer id), as a restarted process would."""
        self.claimer_id = new_claimer_id()
        self._loop_task = asyncio.create_task(self._claim_loop(), name="experiment-pool")

    async def stop(self) -> None:
        """Hands the held experiments back: their batches keep running at the API and are polled by the next pool."""
        tasks = [task for task in (self._loop_task, *self._active.values()) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with suppress(asyncio.CancelledError):
                await task
        try:
            async with self.database.autocommit() as connection:
                await experiments.EXPERIMENT_QUEUE.release(connection, self.claimer_id)
        except Exception as error:  # shutting down regardless: the lease runs out and another pool takes over
            log_failure(log, error, "handing experiments back")

    async def _claim_loop(self) -> None:
        while True:
            try:
                async with self.database.autocommit() as connection:
                    await experiments.fail_exhausted(connection, self.settings.max_run_attempts)
                while len(self._active) < _SLOTS and await self._claim():
                    pass
            except Exception as error:  # a database hiccup must not end the pool; the next poll retries
                log_failure(log, error, "claiming experiments")
            await asyncio.sleep(self.settings.poll_interval_s)

    async def _claim(self) -> bool:
        claimed_at = asyncio.get_running_loop().time()
        async with self.database.autocommit() as connection:
            claimed = await experiments.claim(
                connection,
                claimer_id=self.claimer_id,
                lease_s=self.settings.lease_s,
                max_attempts=self.settings.max_run_attempts,
            )
        if claimed is None:
            return False
        lease = JobLease(
            self.database, experiments.EXPERIMENT_QUEUE, claimed.id, self.claimer_id, self.settings.lease_s, claimed_at
        )
        self._active[claimed.id] = asyncio.create_task(self._hold(claimed, lease), name=f"experiment-{claimed.id}")
        return True

    async def _hold(self, claimed: experiments.ClaimedExperiment, lease: JobLease) -> None:
        task = asyncio.current_task()
        assert task is not None  # run as a task by `_claim`

        def lost() -> None:
            task.cancel()

        keeper = asyncio.create_task(lease.keep(on_lost=lost))
        try:
            status = await self._run(claimed)
            async with self.database.tenant_session(claimed.tenant_id) as session:
                if await experiments.finish(session, claimed.id, self.claimer_id, status):
                    await experiments.announce(session, claimed.tenant_id, claimed.id)
        except (asyncio.CancelledError, _LeaseLost):
            pass  # shutdown (handed back) or the lease was lost (another pool carries on)
        except Exception as error:
            log.exception("experiment %s failed (attempt %d)", claimed.id, claimed.attempts)
            message = (
                f"{error.code}: {error.message}" if isinstance(error, LlmError) else "unexpected error; see the log"
            )
            async with self.database.autocommit() as connection:
                await experiments.EXPERIMENT_QUEUE.give_back(
                    connection, claimed.id, self.claimer_id, message, self.settings.max_run_attempts
                )
        finally:
            keeper.cancel()
            self._active.pop(claimed.id, None)

    async def _read(
        self, claimed: experiments.ClaimedExperiment, sides: tuple[str, ...] = _ANSWERS
    ) -> tuple[Experiment, list[Pending]]:
        """The experiment and its pending requests of `sides` (by default the answers, not the judge's)."""
        async with self.database.tenant_session(claimed.tenant_id) as session:
            experiment = await experiments.get(session, claimed.id)
            assert experiment is not None  # claimed, so it exists
            pending = [
                Pending(row.custom_id, row.transcript_id, row.agent, row.prompt_version_id)
                for row in await experiments.pending(session, claimed.id, sides)
            ]
        return experiment, pending

    async def _store(self, claimed: experiments.ClaimedExperiment, values: dict[str, dict[str, Any]]) -> None:
        async with self.database.tenant_session(claimed.tenant_id) as session:
            stored = [await experiments.store(session, claimed.id, custom_id, row) for custom_id, row in values.items()]
            if any(stored):
                await experiments.announce(session, claimed.tenant_id, claimed.id)

    async def _run(self, claimed: experiments.ClaimedExperiment) -> str:
        experiment, pending = await self._read(claimed)
        if experiment.mode == "LIVE":
            status = await self._run_live(claimed, pending)
        else:
            status = await self._run_batch(claimed, experiment, pending)
        if experiment.judge_version_id is None:
            return status
        if status != "succeeded":
            _, judges = await self._read(claimed, (RequestSide.JUDGE,))
            return await self._cancel_pending(claimed, judges)
        return await self._judge(claimed)

    async def _judge(self, claimed: experiments.ClaimedExperiment) -> str:
        """The pairwise judge's requests, once every answer is stored: LIVE, whatever the experiment's mode.

        They cannot join the answers' batch, since each reads two of its results; a batch of their own would add
        up to another 24 hours to an experiment whose answers are in, and a second durable batch id (with its
        own create window) to track. They are one per call and agent, and the estimate prices them at the LIVE
        price. Each verdict is stored only while its request is pending, as an answer is: a pool that takes the
        experiment over sends only the verdicts not stored yet (one in flight when its pool stopped included)."""
        async with self.database.tenant_session(claimed.tenant_id) as session:
            rows = await experiments.requests_of(session, claimed.id)
        judges, skipped = judge_requests(rows)
        await self._store(claimed, skipped)
        return await self._run_live(claimed, judges)

    async def _cancel_requested(self, claimed: experiments.ClaimedExperiment) -> bool:
        experiment, _ = await self._read(claimed)
        return experiment.cancel_requested

    async def _cancel_pending(self, claimed: experiments.ClaimedExperiment, pending: list[Pending]) -> str:
        canceled = {"state": "canceled", "error_code": "CANCELED", "error_message": "the experiment was canceled"}
        await self._store(claimed, {item.custom_id: canceled for item in pending})
        return "canceled"

    async def _run_live(self, claimed: experiments.ClaimedExperiment, pending: list[Pending]) -> str:
        """As many requests at once as the analysis pool has slots; a cancel stops what has not been sent."""
        prepared, unsendable = await prepare(self.database, claimed.tenant_id, self.settings.anthropic_api_key, pending)
        await self._store(claimed, unsendable)
        gate = asyncio.Semaphore(max(self.settings.analysis_slots, 1))

        async def send(item: Pending) -> None:
            async with gate:
                if not await self._cancel_requested(claimed):
                    await self._store(claimed, {item.custom_id: await self._complete(item, prepared[item.custom_id])})

        await asyncio.gather(*(send(item) for item in pending if item.custom_id in prepared))
        if await self._cancel_requested(claimed):
            return await self._cancel_pending(claimed, pending)  # those answered stay as they are
        return "succeeded"

    async def _complete(self, item: Pending, prepared: Prepared) -> dict[str, Any]:
        started = time.monotonic()
        try:
            completion = await self.llm.complete(prepared.request, on_progress=_no_progress)
        except LlmError as error:
            return answered(item.answering, prepared, None, error, batch=False, latency_ms=None)
        latency = round((time.monotonic() - started) * 1000)
        return answered(item.answering, prepared, completion, None, batch=False, latency_ms=latency)

    async def _run_batch(
        self, claimed: experiments.ClaimedExperiment, experiment: Experiment, pending: list[Pending]
    ) -> str:
        prepared, unsendable = await prepare(self.database, claimed.tenant_id, self.settings.anthropic_api_key, pending)
        await self._store(claimed, unsendable)
        batch_id = experiment.batch_id
        if batch_id is None:
            if experiment.cancel_requested or not prepared:
                return await self._cancel_pending(claimed, pending) if experiment.cancel_requested else "succeeded"
            status = await self.batches.submit({key: value.request for key, value in prepared.items()})
            batch_id = status.batch_id
            async with self.database.tenant_session(claimed.tenant_id) as session:
                recorded = await experiments.record_batch(session, claimed.id, self.claimer_id, batch_id)
                if recorded:
                    await experiments.announce(session, claimed.tenant_id, claimed.id)
            if not recorded:  # another pool holds the experiment now and sends its own: this batch is not wanted
                await self.batches.cancel(batch_id)
                raise _LeaseLost
            if await self._cancel_requested(claimed):  # canceled while it was being sent: the cancel saw no batch
                await self.batches.cancel(batch_id)
        while not (await self.batches.status(batch_id)).ended:
            await asyncio.sleep(self.settings.poll_interval_s)
        max_tokens = {key: value.request.max_tokens for key, value in prepared.items()}
        agents = {item.custom_id: item.agent for item in pending}
        answers: dict[str, dict[str, Any]] = {}
        async for outcome in self.batches.results(batch_id, max_tokens):
            found = prepared.get(outcome.custom_id)
            if found is None:  # stored already (a pool before this one read these results)
                continue
            answers[outcome.custom_id] = answered(
                agents[outcome.custom_id], found, outcome.completion, outcome.error, batch=True, latency_ms=None
            )
            if len(answers) == _STORED_AT_ONCE:
                await self._store(claimed, answers)
                answers = {}
        if answers:
            await self._store(claimed, answers)
        return "canceled" if await self._cancel_requested(claimed) else "succeeded"
