"""Executes one agent run: prompt, streamed structured output, validation, evidence verification.

Failures become a failed `Outcome` with a stable code (the LLM's error code, INVALID_OUTPUT, or
INTERNAL_ERROR), never an exception: one agent failing must not affect its siblings. A run that cannot
succeed fails before its first request (PROMPT_RENDER_FAILED, MODEL_UNKNOWN, CONTEXT_TOO_LONG), unbilled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import BaseModel, ValidationError

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import count_evidence, verify_evidence
from dealgraph.agents.registry import AGENTS, AgentDefinition
from dealgraph.claude.client import Completion, LlmClient, LlmError, StructuredRequest, Usage
from dealgraph.claude.models import UnknownModel
from dealgraph.config import Settings
from dealgraph.db.models import PromptTemplate, PromptVersion, RunStatus
from dealgraph.db.outage import through_blips
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database
from dealgraph.fanout.hub import NotificationHub
from dealgraph.fanout.single_flight import CoalescedReads, SingleFlight
from dealgraph.prompts.request import retry_messages, tenant_cache_key
from dealgraph.prompts.templates import TemplateRenderError
from dealgraph.runs.cache_sharing import CacheGate
from dealgraph.runs.context_fit import overflow
from dealgraph.runs.inputs import AgentInputs, CallInputs, load_call, load_version
from dealgraph.runs.observed import ObservedRun, run_span
from dealgraph.runs.progress import ProgressPublisher

log = logging.getLogger(__name__)
_MAX_LISTED_PROBLEMS = 20


class AgentFailure(Exception):
    """A run that cannot produce a result, for a reason other than the Messages API."""

    def __init__(self, code: str, message: str, usage: Usage | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.usage = usage or Usage()


def validation_problems(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in problem['loc']) or '(root)'}: {problem['msg']}"
        for problem in error.errors()[:_MAX_LISTED_PROBLEMS]
    ]


class ProgressReporter:
    """Publishes output-token progress of a run, at most once per `interval` seconds.

    The first comes one interval after the run began, not with the first token: a run that ends sooner
    announces only its result, so fast agents cost no progress write and their result never waits for one.
    None goes out before `announced` is done (the run's `started`), so progress never precedes it."""

    def __init__(
        self, publisher: ProgressPublisher, claimed: runs.ClaimedRun, interval: float, announced: asyncio.Future[None]
    ) -> None:
        self.publisher = publisher
        self.claimed = claimed
        self.interval = interval
        self.announced = announced
        self.earlier_tokens = 0  # output of previous calls of this run (the validation retry adds to it)
        self._last = time.monotonic()

    async def __call__(self, output_tokens: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval or not self.announced.done():
            return
        self._last = now
        total = self.earlier_tokens + output_tokens
        self.publisher.publish(runs.run_event(self.claimed, "progress", self.claimed.deal_id, outputTokens=total))


class AgentRunner:
    def __init__(self, database: Database, hub: NotificationHub | None, llm: LlmClient, settings: Settings) -> None:
        self.database = database
        self.llm = llm
        self.settings = settings
        self.cache_gate = CacheGate(database, hub, settings.cache_sharing, wait_s=settings.cache_wait_s)
        self.progress = ProgressPublisher(database)
        self.call_reads = CoalescedReads()
        """The agents of an analysis start together: one read of their transcript, deal and account."""
        self._versions = SingleFlight()
        """Prompt versions (and their templates' agent) never change once saved: read once per process."""

    async def close(self) -> None:
        await self.progress.close()

    async def run(self, claimed: runs.ClaimedRun, announced: asyncio.Future[None]) -> runs.Outcome:
        """`announced` is done once the run's start has been announced (its progress waits for that)."""
        observed = ObservedRun(claimed.agent)
        with run_span(claimed.agent, claimed.id) as span:
            outcome = await self._outcome(claimed, announced, observed)
            observed.finish(outcome, span)
        return outcome

    async def _outcome(
        self, claimed: runs.ClaimedRun, announced: asyncio.Future[None], observed: ObservedRun
    ) -> runs.Outcome:
        try:
            return await self._run(claimed, announced, observed)
        except (LlmError, AgentFailure) as error:  # a failed run still records what its requests were billed
            observed.billed(error.usage, 1)
            return runs.Outcome(
                RunStatus.FAILED,
                error_code=error.code,
                error_message=error.message,
                input_tokens=error.usage.input_tokens,
                output_tokens=error.usage.output_tokens,
                cache_read_tokens=error.usage.cache_read_tokens,
                cache_write_tokens=error.usage.cache_write_tokens,
            )
        except Exception:
            log.exception("agent run %s failed unexpectedly", claimed.id)
            return runs.Outcome(
                RunStatus.FAILED, error_code="INTERNAL_ERROR", error_message="unexpected error; see the server log"
            )

    async def _run(
        self, claimed: runs.ClaimedRun, announced: asyncio.Future[None], observed: ObservedRun
    ) -> runs.Outcome:
        started = time.monotonic()
        agent = AGENTS[AgentKind(claimed.agent)]
        inputs = await self._load_inputs(claimed)
        transcript, version = inputs.transcript, inputs.version
        tenant_key = tenant_cache_key(claimed.tenant_id, self.settings.anthropic_api_key)
        try:
            request = inputs.request(agent, tenant_key=tenant_key, shared_schema=self.cache_gate.shares_schema)
            too_long = await overflow(self.llm, request)
        except TemplateRenderError as error:
            raise AgentFailure("PROMPT_RENDER_FAILED", str(error)) from error
        except UnknownModel as error:
            raise AgentFailure("MODEL_UNKNOWN", str(error)) from error
        observed.model = request.model
        if too_long is not None:
            raise AgentFailure("CONTEXT_TOO_LONG", too_long)
        progress = ProgressReporter(self.progress, claimed, self.settings.progress_interval_s, announced)
        async with self.cache_gate.turn(claimed) as turn:
            first = await self.llm.complete(request, on_progress=progress, on_response_start=turn.response_started)
        observed.first_token_s = first.first_token_s
        output, calls = await self._validated(agent, request, first, progress)
        await self.progress.sent(str(claimed.id))  # the result must not overtake the run's progress
        output = verify_evidence(agent.postprocess(output, transcript.utterances), transcript.evidence)
        verified, total = count_evidence(output)
        usage = sum((call.usage for call in calls), Usage())
        observed.billed(usage, sum(call.requests for call in calls))
        metadata: dict[str, Any] = {
            "prompt_version_id": str(version.id),
            "prompt_version": version.version,
            "effort": request.effort,
            "attempts": sum(call.requests for call in calls),
            "thinking_tokens": usage.thinking_tokens,
            "cache_sharing": self.cache_gate.strategy,
            "cache_role": turn.role,
            "cache_wait_ms": turn.waited_ms,
            "evidence_verified": verified,
            "evidence_total": total,
        }
        return runs.Outcome(
            RunStatus.SUCCEEDED,
            result=output.model_dump(mode="json"),
            metadata=metadata,
            simulated=any(call.simulated for call in calls),
            model=calls[-1].model,
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            cache_write_tokens=usage.cache_write_tokens,
            latency_ms=round((time.monotonic() - started) * 1000),
        )

    async def _validated(
        self, agent: AgentDefinition, request: StructuredRequest, first: Completion, progress: ProgressReporter
    ) -> tuple[BaseModel, list[Completion]]:
        """Validate the answer; on failure retry once, showing the model its answer and what was wrong.

        Structured outputs already hold the answer to the schema's shape; what can still fail are the
        constraints the API's schema subset cannot express (ranges, lengths), which pydantic enforces.
        """
        try:
            return parse_output(agent, request, first.text), [first]
        except ValidationError as error:
            problems = validation_problems(error)
        retry = replace(request, messages=retry_messages(request, first.content, problems))
        progress.earlier_tokens = first.usage.output_tokens
        try:
            second = await self.llm.complete(retry, on_progress=progress)
        except LlmError as error:
            raise error.billed(first.usage) from error
        try:
            return parse_output(agent, request, second.text), [first, second]
        except ValidationError as error:
            raise AgentFailure(
                "INVALID_OUTPUT",
                "the model's output did not match the schema twice: " + "; ".join(validation_problems(error)),
                usage=first.usage + second.usage,
            ) from error

    async def _load_inputs(self, claimed: runs.ClaimedRun) -> AgentInputs:
        """Read through the tenant's own scope: the pool never reads across tenants by accident.

        Runs of one analysis claimed together share one read of the call (joined only before it begins,
        so a deal edited since is seen as a fresh read would see it); pinned versions are cached. A read that
        lost its connection is retried: a blip must not fail a run before it has even asked the model."""
        tenant, transcript_id, version_id = claimed.tenant_id, claimed.transcript_id, claimed.prompt_version_id

        async def read_call(begin: Callable[[], None]) -> CallInputs | None:
            begin()
            return await load_call(self.database.reads, tenant, transcript_id)

        async def read_version() -> tuple[PromptVersion, PromptTemplate] | None:
            async with self.database.tenant_session(tenant) as session:
                return await load_version(session, version_id)

        call: CallInputs | None = await through_blips(lambda: self.call_reads.get((tenant, transcript_id), read_call))
        pinned = await through_blips(lambda: self._versions.get((tenant, version_id), read_version))
        if call is None or pinned is None:
            raise AgentFailure("INPUT_MISSING", "the transcript, its deal or the prompt version no longer exists")
        return call.with_version(*pinned)


def parse_output(agent: AgentDefinition, request: StructuredRequest, text: str) -> BaseModel:
    """The agent's output from the answer's JSON: the whole object, or its key of the shared schema."""
    if request.answer_key is None:
        return agent.output_model.model_validate_json(text)
    shared = agent.shared_answer_model.model_validate_json(text)
    output: BaseModel = getattr(shared, request.answer_key)
    return output
