"""`dealgraph llm check`: does the Messages API accept what each agent will send?

One small real request per agent configuration (the model and effort of every `production` prompt version,
built-in or a tenant's override, in the output schema of the configured cache sharing), so a key, model or
account problem shows up in seconds with the API's own error instead of as failed analyses. Without a key
it runs against the stand-in, which enforces the documented rules (see `dealgraph.standin.rules`),
and says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS, builtin_effort
from dealgraph.claude.client import LlmClient, StructuredRequest, as_llm_error
from dealgraph.claude.models import MODELS, Effort
from dealgraph.config import Settings
from dealgraph.prompts.request import TranscriptForPrompt, build_request
from dealgraph.prompts.templates import RenderedTemplates
from dealgraph.transcripts.formats import Utterance

_CHECK_MAX_TOKENS = 8192
"""Enough for a short thinking pass and a small JSON object; the check only needs the API to accept."""


@dataclass(frozen=True, slots=True)
class CheckResult:
    agent: str
    model: str
    effort: str
    accepted: bool
    detail: str

    def line(self) -> str:
        verdict = "accepted" if self.accepted else "REJECTED"
        return f"{self.agent:<22} {self.model:<20} effort={self.effort:<7} json_schema  {verdict}: {self.detail}"


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


def check_request(settings: Settings, configuration: AgentConfiguration) -> StructuredRequest:
    """The request shape a run sends (system blocks, cached transcript, output schema of the configured
    cache sharing), with the configuration's model and effort, around a one-line call."""
    caps = MODELS.get(configuration.model)
    effort = configuration.effort or (caps.default_effort if caps else "high")
    return build_request(
        AGENTS[configuration.agent],
        _CALL,
        _PROMPT,
        model=configuration.model,
        max_tokens=_CHECK_MAX_TOKENS,
        effort=effort,
        shared_schema=settings.cache_sharing == "leader",
    )


async def check_agents(settings: Settings, configurations: Sequence[AgentConfiguration]) -> list[CheckResult]:
    llm = LlmClient(settings)
    results: list[CheckResult] = []
    try:
        for configuration in configurations:
            kind = configuration.agent
            request = check_request(settings, configuration)
            try:
                message = await llm.sdk.messages.create(**request.params())
            except Exception as error:  # noqa: BLE001 - every failure is reported, as the API put it
                failure = as_llm_error(error)
                results.append(
                    CheckResult(kind.value, request.model, request.effort, False, f"{failure.code} {failure.message}")
                )
                continue
            usage = message.usage
            detail = f"stop_reason={message.stop_reason}, {usage.input_tokens} in / {usage.output_tokens} out tokens"
            results.append(CheckResult(kind.value, request.model, request.effort, True, detail))
    finally:
        await llm.close()
    return results
