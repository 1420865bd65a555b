"""`dealgraph llm check`: does the Messages API accept what each agent will send?

One small real request per agent configuration (the model and effort of every `production` prompt version,
built-in or a tenant's override) and cache-sharing mode (`parallel`: the agent's own output schema; `leader`:
the schema all agents share), so a key, model, schema or account problem shows up in seconds with the API's
own error instead of as failed analyses, and switching DEALGRAPH_CACHE_SHARING needs no new check. An answer
that is not a complete one (a refusal, `max_tokens`, any stop reason but end_turn) is reported as the run
would fail on it, not as accepted. Without a key it runs against the stand-in, which enforces the documented
rules (see `dealgraph.standin.rules`), and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS, builtin_effort
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest, Usage, answer_text, as_llm_error
from dealgraph.claude.models import MODELS, Effort
from dealgraph.config import Settings
from dealgraph.prompts.request import TranscriptForPrompt, build_request
from dealgraph.prompts.templates import RenderedTemplates
from dealgraph.transcripts.formats import Utterance

_CHECK_MAX_TOKENS = 8192
"""Enough for a short thinking pass and a small JSON object; the check only needs the API to accept."""


CacheSharing = Literal["parallel", "leader"]
CACHE_SHARINGS: tuple[CacheSharing, ...] = ("parallel", "leader")
"""Each mode sends another output schema (`Settings.cache_sharing`): the check sends both."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    agent: str
    model: str
    effort: str
    cache_sharing: CacheSharing
    accepted: bool
    detail: str

    def line(self) -> str:
        verdict = "accepted" if self.accepted else "REJECTED"
        schema = f"json_schema/{self.cache_sharing}"
        return f"{self.agent:<22} {self.model:<20} effort={self.effort:<7} {schema:<20} {verdict}: {self.detail}"


_CALL = TranscriptForPrompt.of(
    "API check", datetime(2026, 1, 5, tzinfo=UTC), (Utterance(0, "Ana Ruiz", 1.0, None, "We will decide next week."),)
)
_PROMPT = RenderedTemplates(
    system="You check API access for a sales-call analysis service.",
    user="Answer with the smallest JSON object the output format allows.",
)


@dataclass(frozen=True, slots=True)
class AgentConfiguration:
    """What one agent's runs send: its model and effort (None: the model's default)."""

    agent: AgentKind
    model: str
    effort: Effort | None


def builtin_configurations(settings: Settings) -> list[AgentConfiguration]:
    return [AgentConfiguration(kind, settings.llm_model, builtin_effort(kind)) for kind in AgentKind]


def check_request(configuration: AgentConfiguration, cache_sharing: CacheSharing) -> StructuredRequest:
    """The request shape a run sends (tenant and system blocks, cached transcript, the output schema of
    `cache_sharing`), with the configuration's model and effort, around a one-line call."""
    caps = MODELS.get(configuration.model)
    effort = configuration.effort or (caps.default_effort if caps else "high")
    return build_request(
        AGENTS[configuration.agent],
        _CALL,
        _PROMPT,
        tenant_key="llm-check",
        model=configuration.model,
        max_tokens=_CHECK_MAX_TOKENS,
        effort=effort,
        shared_schema=cache_sharing == "leader",
    )


async def check_agents(settings: Settings, configurations: Sequence[AgentConfiguration]) -> list[CheckResult]:
    llm = LlmClient(settings)
    try:
        return [
            await _check(llm, configuration, cache_sharing)
            for configuration in configurations
            for cache_sharing in CACHE_SHARINGS
        ]
    finally:
        await llm.close()


async def _check(llm: LlmClient, configuration: AgentConfiguration, cache_sharing: CacheSharing) -> CheckResult:
    request = check_request(configuration, cache_sharing)

    def result(accepted: bool, detail: str) -> CheckResult:
        return CheckResult(configuration.agent.value, request.model, request.effort, cache_sharing, accepted, detail)

    try:
        message = await llm.sdk.messages.create(**request.params())
    except Exception as error:  # noqa: BLE001 - every failure is reported, as the API put it
        failure = as_llm_error(error)
        return result(False, f"{failure.code} {failure.message}")
    usage = message.usage
    billed = f"{usage.input_tokens} in / {usage.output_tokens} out tokens"
    try:
        answer_text(message.model_dump(mode="json"), request.max_tokens, Usage())
    except LlmError as failure:  # accepted by the API, but no answer a run could use
        return result(False, f"{failure.code} {failure.message}; {billed}")
    return result(True, f"stop_reason={message.stop_reason}, {billed}")
