"""`dealgraph llm check`: does the Messages API accept what each agent's runs send, and cache it?

The check sends what a run sends. Every `production` prompt version (built-in, or a tenant's override) is
rendered against a built-in sample call (`dealgraph.prompts.sample_call`) by the run's own code
(`runs.inputs.AgentInputs.request`), and sent as a run sends it: streamed through `LlmClient.complete`, with
the version's model, `max_tokens` and effort, once per cache-sharing mode (`parallel`: the agent's own output
schema; `leader`: the schema all agents share), so switching DEALGRAPH_CACHE_SHARING needs no new check. A
key, model, template, schema or account problem shows up in seconds with the API's own error instead of as
failed analyses. An answer that is not a complete one (a refusal, `max_tokens`, any stop reason but end_turn)
is reported as the run would fail on it, not as accepted.

The sample call is long enough to be cached, and the check speaks as a tenant of its own (a fresh tenant key
each time), so each line says what the prompt cache did: the first request of a prompt writes its entry, and
in `leader` mode the later agents of the same model read the first one's entry, as followers do in a run.
Those followers ask for the API's cache diagnostics
(https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics) against the leader's message, so a
follower that could not read the leader's entry says why (`system_changed`: its system text differs, ...);
`messages_changed` is expected, since each agent's user turn is its own.

Cost, estimated with the stand-in's token estimate (`dealgraph.claude.tokens`; real counts differ) for the
four built-in versions on the default model: about 49,000 input tokens (5,700 uncached, 21,400 written to
the cache, 21,400 read from it: billed like about 35,000 plain input tokens) and 16,000 output tokens a
check, the output being what the model writes, at most each version's `max_tokens` per request. Each tenant
override in the database adds two requests (docs/operations.md has the breakdown).

Without a key it runs against the stand-in, which enforces the documented rules (see
`dealgraph.standin.rules`), and says so. With a key it also sends one request through the Message Batches
API (`check_batch`: the first configuration, `parallel` schema, at half price), waits for it within a limit
and reads its result line as experiments read theirs; a batch still running at the limit is canceled.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS, builtin_effort
from dealgraph.claude.batches import LlmBatches
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest, Usage
from dealgraph.config import Settings
from dealgraph.db.models import PromptTemplate, PromptVersion
from dealgraph.prompts.request import tenant_cache_key
from dealgraph.prompts.sample_call import SAMPLE_CALL_CONTEXT, SAMPLE_CALL_TRANSCRIPT
from dealgraph.prompts.templates import builtin_templates, version_fields
from dealgraph.runs.inputs import CallInputs

CacheSharing = Literal["parallel", "leader"]
CACHE_SHARINGS: tuple[CacheSharing, ...] = ("parallel", "leader")
"""Each mode sends another output schema (`Settings.cache_sharing`): the check sends both."""

SAMPLE_CALL = CallInputs(SAMPLE_CALL_TRANSCRIPT, SAMPLE_CALL_CONTEXT)


@dataclass(frozen=True, slots=True)
class AgentConfiguration:
    """One production prompt version of an agent: what its runs render and send."""

    agent: AgentKind
    version: PromptVersion


def builtin_configurations(settings: Settings) -> list[AgentConfiguration]:
    """The versions a fresh install loads (`bootstrap.ensure_builtin_prompts`), for a check without a database."""
    configurations = []
    for kind in AgentKind:
        system_text, user_template = builtin_templates(kind.value)
        fields = version_fields(
            kind,
            system_text=system_text,
            user_template=user_template,
            model=settings.llm_model,
            max_tokens=settings.llm_max_tokens,
            effort=builtin_effort(kind),
        )
        configurations.append(AgentConfiguration(kind, PromptVersion(**fields)))
    return configurations


@dataclass(frozen=True, slots=True)
class CheckResult:
    agent: str
    model: str
    effort: str
    max_tokens: int
    cache_sharing: CacheSharing
    accepted: bool
    detail: str
    usage: Usage = Usage()
    batch: bool = False
    """Sent through the Message Batches API rather than streamed."""

    def line(self) -> str:
        verdict = "accepted" if self.accepted else "REJECTED"
        schema = f"json_schema/{self.cache_sharing}" + (" batch" if self.batch else "")
        return (
            f"{self.agent:<22} {self.model:<20} effort={self.effort:<7} max_tokens={self.max_tokens:<6} "
            f"{schema:<20} {verdict}: {self.detail}"
        )


def check_request(
    configuration: AgentConfiguration, cache_sharing: CacheSharing, *, tenant_key: str
) -> StructuredRequest:
    """What a run of this version sends for the sample call. Raises TemplateRenderError (the version does not
    render) or UnknownModel (no effort saved, and a model without known rules), as a run would."""
    template = PromptTemplate(agent=configuration.agent.value)
    inputs = SAMPLE_CALL.with_version(configuration.version, template)
    return inputs.request(AGENTS[configuration.agent], tenant_key=tenant_key, shared_schema=cache_sharing == "leader")


async def check_agents(settings: Settings, configurations: Sequence[AgentConfiguration]) -> list[CheckResult]:
    """Sequential, so every leader's response has started (its cache entry is readable) before a follower asks."""
    llm = LlmClient(settings)
    check = _Check(llm, tenant_cache_key(uuid.uuid4(), settings.anthropic_api_key))
    try:
        return [
            await check.send(configuration, cache_sharing)
            for configuration in configurations
            for cache_sharing in CACHE_SHARINGS
        ]
    finally:
        await llm.close()


async def _no_progress(tokens: int) -> None:
    return None


class _Check:
    def __init__(self, llm: LlmClient, tenant_key: str) -> None:
        self._llm = llm
        self._tenant_key = tenant_key
        self._leaders: dict[str, tuple[str, str]] = {}
        """model -> (agent, message id) of the first accepted `leader` request of that model."""

    async def send(self, configuration: AgentConfiguration, cache_sharing: CacheSharing) -> CheckResult:
        version = configuration.version
        effort = version.effort or "model default"

        def result(accepted: bool, detail: str, usage: Usage | None = None) -> CheckResult:
            agent = configuration.agent.value
            billed = usage or Usage()
            return CheckResult(
                agent, version.model, effort, version.max_tokens, cache_sharing, accepted, detail, billed
            )

        try:
            request = check_request(configuration, cache_sharing, tenant_key=self._tenant_key)
        except Exception as error:  # noqa: BLE001 - a version no run could send is reported, not raised
            return result(False, f"NOT SENT: {error}")
        effort = request.effort
        leader = self._leaders.get(request.model) if cache_sharing == "leader" else None
        if cache_sharing == "leader":
            request = replace(request, diagnostics={"previous_message_id": leader[1] if leader else None})
        try:
            completion = await self._llm.complete(request, on_progress=_no_progress)
        except LlmError as failure:
            return result(False, f"{failure.code} {failure.message}; {_billed(failure.usage)}", failure.usage)
        detail = f"stop_reason={completion.stop_reason}, {_billed(completion.usage)}"
        if cache_sharing == "leader" and leader is None:
            self._leaders[request.model] = (configuration.agent.value, completion.message_id)
            detail += "; leads"
        elif leader is not None:
            detail += f"; follows {leader[0]}: {_diagnosis(completion.diagnostics)}"
        return result(True, detail, completion.usage)


def _billed(usage: Usage) -> str:
    cache = f"cache written {usage.cache_write_tokens} / read {usage.cache_read_tokens}"
    if not usage.cache_write_tokens and not usage.cache_read_tokens:
        cache += " (NOT CACHED: the prefix was below the model's minimum, or caching failed)"
    return f"{usage.input_tokens} in ({cache}) / {usage.output_tokens} out tokens"


def _diagnosis(diagnostics: dict[str, Any] | None) -> str:
    """The API's `diagnostics` (the SDK's `Diagnostics`) in words."""
    if diagnostics is None:
        return "the prompt cache reused the leader's whole prefix"
    reason = diagnostics.get("cache_miss_reason")
    if reason is None:
        return "cache diagnosis still pending when the response was sent"
    missed = reason.get("cache_missed_input_tokens")
    return f"cache miss {reason.get('type')}" + ("" if missed is None else f" (~{missed} tokens not reused)")


_BATCH_CHECK_ID = "llm-check"
_FIRST_POLL_S = 0.5
_LONGEST_POLL_S = 30.0


async def check_batch(settings: Settings, configuration: AgentConfiguration, *, wait_s: float) -> CheckResult:
    """One request of `configuration` as a one-request Message Batch: accepted, answered in the output format
    runs parse, and billed at the batch tier. Polls at growing intervals; cancels what has not ended by `wait_s`."""
    version = configuration.version
    llm = LlmClient(settings)
    batches = LlmBatches(llm)

    def result(accepted: bool, detail: str, usage: Usage | None = None) -> CheckResult:
        agent, effort = configuration.agent.value, version.effort or "model default"
        return CheckResult(
            agent, version.model, effort, version.max_tokens, "parallel", accepted, detail, usage or Usage(), True
        )

    try:
        request = check_request(
            configuration, "parallel", tenant_key=tenant_cache_key(uuid.uuid4(), settings.anthropic_api_key)
        )
        status = await batches.submit({_BATCH_CHECK_ID: request})
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + wait_s, _FIRST_POLL_S
        while not status.ended and loop.time() < deadline:
            await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
            pause = min(pause * 2, _LONGEST_POLL_S)
            status = await batches.status(status.batch_id)
        if not status.ended:
            await batches.cancel(status.batch_id)
            return result(True, f"{status.batch_id} created, not ended within {wait_s:g} s: canceled")
        [outcome] = [line async for line in batches.results(status.batch_id, {_BATCH_CHECK_ID: request.max_tokens})]
    except LlmError as failure:
        return result(False, f"{failure.code} {failure.message}; {_billed(failure.usage)}", failure.usage)
    finally:
        await llm.close()
    if outcome.error is not None:
        return result(False, f"{status.batch_id}: {outcome.error.code} {outcome.error.message}", outcome.error.usage)
    assert outcome.completion is not None  # an outcome has one or the other
    usage = outcome.completion.usage
    detail = f"{status.batch_id}: stop_reason={outcome.completion.stop_reason}, {_billed(usage)} at the batch price"
    return result(True, detail, usage)
