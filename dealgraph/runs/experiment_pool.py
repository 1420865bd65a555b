"""The experiment pool: claims experiments (the durable-job pattern, `dealgraph.db.jobs`) and sends their
requests, as one Message Batch (BATCH) or through `LlmClient.complete`, as many at once as the analysis pool
has slots (LIVE).

A BATCH experiment's batch id is stored, fenced on the claim, as soon as the batch is created; a pool that
takes the experiment over (its holder stopped, or its lease lapsed) finds it and polls that batch instead of
sending the requests again. The intent to create it is stored before the create: a pool that finds the intent
but no id (its holder stopped before the create answered) looks for the batch at the API and polls that one if
it was created (`dealgraph.runs.experiment_batch`). Each answer is stored only while its request is pending,
so whichever pool reads a batch's results, and however often, each request is stored, and billed, once. With the pairwise judge on, its requests follow once every answer is
stored (`ExperimentPool._judge`). Progress goes out as experiment events (`experimentEvents`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from contextlib import suppress
from functools import partial
from typing import Any

from dealgraph.claude.batches import LlmBatches
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest
from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.jobs import JobLease
from dealgraph.db.models import Experiment, RequestSide
from dealgraph.db.outage import log_failure
from dealgraph.db.repositories import experiments
from dealgraph.db.session import Database
from dealgraph.runs.experiment_answers import Pending, Prepared, answered, prepare
from dealgraph.runs.experiment_batch import find_created, tagged, untagged
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

    async def _ended(self, batch_id: str) -> bool:
        """A batch may run for 24 hours: a poll that fails for a moment (a dropped connection, an overload) is
        polled again, not counted as one of the experiment's attempts."""
        try:
            return (await self.batches.status(batch_id)).ended
        except LlmError as error:
            if not error.retryable:
                raise
            log.warning("polling batch %s: %s %s; polling on", batch_id, error.code, error.message)
            return False

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
        requests = tagged(claimed.id, {key: value.request for key, value in prepared.items()})
        batch_id = experiment.batch_id
        if batch_id is None:
            created_before = await self._created_before(claimed, experiment)
            if created_before is None and (experiment.cancel_requested or not prepared):
                return await self._cancel_pending(claimed, pending) if experiment.cancel_requested else "succeeded"
            batch_id = created_before or await self._submit(claimed, requests)
            await self._record(claimed, batch_id, created=created_before is None)
        while not await self._ended(batch_id):
            await asyncio.sleep(self.settings.poll_interval_s)
        max_tokens = {custom_id: request.max_tokens for custom_id, request in requests.items()}
        agents = {item.custom_id: item.agent for item in pending}
        answers: dict[str, dict[str, Any]] = {}
        async for outcome in self.batches.results(batch_id, max_tokens):
            custom_id = untagged(claimed.id, outcome.custom_id)
            found = None if custom_id is None else prepared.get(custom_id)
            if custom_id is None or found is None:  # not its own, or stored already (by a pool before this one)
                continue
            answers[custom_id] = answered(
                agents[custom_id], found, outcome.completion, outcome.error, batch=True, latency_ms=None
            )
            if len(answers) == _STORED_AT_ONCE:
                await self._store(claimed, answers)
                answers = {}
        if answers:
            await self._store(claimed, answers)
        return "canceled" if await self._cancel_requested(claimed) else "succeeded"

    async def _record(self, claimed: experiments.ClaimedExperiment, batch_id: str, *, created: bool) -> None:
        """Stores the batch id, fenced on the claim. A batch this pool created is canceled when the claim was lost
        (the pool holding the experiment now sends its own) or the experiment was canceled while it was sent (the
        cancel saw no batch); one found had ended already."""
        async with self.database.tenant_session(claimed.tenant_id) as session:
            recorded = await experiments.record_batch(session, claimed.id, self.claimer_id, batch_id)
            if recorded:
                await experiments.announce(session, claimed.tenant_id, claimed.id)
        if created and (not recorded or await self._cancel_requested(claimed)):
            await self.batches.cancel(batch_id)
        if not recorded:
            raise _LeaseLost

    async def _submit(self, claimed: experiments.ClaimedExperiment, requests: Mapping[str, StructuredRequest]) -> str:
        """Creates the batch, its intent stored first (`experiment_batch`)."""
        async with self.database.tenant_session(claimed.tenant_id) as session:
            intended = await experiments.record_batch_intent(session, claimed.id, self.claimer_id, len(requests))
        if not intended:
            raise _LeaseLost
        return (await self.batches.submit(requests)).batch_id

    async def _created_before(self, claimed: experiments.ClaimedExperiment, experiment: Experiment) -> str | None:
        """The batch a pool before this one created without storing its id; None when it created none. While
        that cannot be told yet (a batch that fits is still processing), waits for it to end."""
        if experiment.batch_requested_at is None or experiment.batch_requests is None:
            return None
        search = partial(
            find_created, self.batches, claimed.id, experiment.batch_requested_at, experiment.batch_requests
        )
        found = await search()
        if not found.settled:
            log.warning(
                "experiment %s: its batch may have been created without its id being stored; waiting for the "
                "batches created since %s that may be it to end before creating one",
                claimed.id,
                experiment.batch_requested_at.isoformat(),
            )
        while not found.settled:
            await asyncio.sleep(self.settings.poll_interval_s)
            found = await search()
        if found.batch_id is not None:
            log.warning(
                "experiment %s: found its batch %s, created without its id being stored; polling it instead of "
                "creating another",
                claimed.id,
                found.batch_id,
            )
        return found.batch_id
