"""Typed knobs for the stand-in, so tests and benchmarks script failure modes instead of hoping for them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""Status → `error.type` as the real Messages API reports it (https://platform.claude.com/docs/en/api/errors);
scripted failures are limited to these."""

STREAM_FAULTS = frozenset({"drop", *ERROR_TYPES.values()})
"""What a stream can be scripted to do after its 200: close the connection, or send an `error` event of a type."""

ScriptedStop = Literal[
    "max_tokens", "refusal", "pause_turn", "tool_use", "stop_sequence", "model_context_window_exceeded"
]
"""Every stop reason but end_turn (https://platform.claude.com/docs/en/build-with-claude/handling-stop-reasons)."""

DEFAULT_AGENT = "default"


def _check_status(status: int) -> int:
    if status not in ERROR_TYPES:
        raise ValueError(f"status {status} is not an Anthropic API error status ({sorted(ERROR_TYPES)})")
    return status


class AgentBehaviour(BaseModel):
    """How one agent's requests are answered; failures are checked before any output is produced."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(
        default=0.05,
        ge=0,
        description="Generation time after the first token (the whole response without a "
        "prefill model); streams spread it over their deltas.",
    )
    failures: list[int] = Field(
        default_factory=list,
        description="Error statuses consumed one per request, in order, before requests succeed again.",
    )
    fail_always: int | None = Field(default=None, description="Every request fails with this status.")
    failure_rate: float = Field(
        default=0.0, ge=0, le=1, description="Probability a request fails, drawn from a seeded RNG."
    )
    random_failure_status: int = Field(default=529, description="Status used by `failure_rate` failures.")
    spend_limit: Literal["workspace", "tier"] | None = Field(
        default=None,
        description="Every request fails as over a spend limit (https://platform.claude.com/docs/en/api/errors): "
        "'workspace', a limit you set, is a 400 invalid_request_error 'You have reached your specified workspace API "
        "usage limits…'; 'tier', the usage tier's monthly cap, a 429 rate_limit_error without retry-after whose "
        "error.details.error_code is enforced_spend_limit_reached.",
    )
    retry_after_s: float | None = Field(
        default=None, ge=0, description="Sent as retry-after / retry-after-ms on 429 and 529 responses."
    )
    invalid_output_times: int = Field(
        default=0,
        ge=0,
        description="Successful answers whose JSON drops a required property before valid ones follow.",
    )
    stream_faults: list[str] = Field(
        default_factory=list,
        description="Consumed one per streamed request, half-way through its deltas: 'drop' closes the connection, "
        "an error type (e.g. 'overloaded_error') sends an `error` event after the 200.",
    )
    stops: list[ScriptedStop] = Field(
        default_factory=list,
        description="Consumed one per successful request: end it with this stop_reason instead of finishing "
        "(refusal: no content, and stop_details with a category and an explanation; any other: output cut at half).",
    )
    prefill_s_per_1k_tokens: float = Field(
        default=0.0,
        ge=0,
        description="Time to first token per 1,000 input tokens not read from the cache (message_start waits for it); "
        "a model of prefill cost, so cache sharing shows in latency.",
    )
    held: bool = Field(
        default=False,
        description="Answers wait, just before finishing, for POST /_standin/agents/{name}/release: tests script "
        "completion order with it instead of relying on wall-clock gaps.",
    )
    thinking_tokens: int = Field(
        default=1024,
        ge=0,
        description="Output tokens a thinking request spends thinking at effort medium (billed as output, counted "
        "towards max_tokens); low thinks a quarter of it, high 3x, xhigh 6x, max 10x.",
    )

    @field_validator("failures")
    @classmethod
    def _known_failures(cls, value: list[int]) -> list[int]:
        return [_check_status(status) for status in value]

    @field_validator("stream_faults")
    @classmethod
    def _known_faults(cls, value: list[str]) -> list[str]:
        unknown = [fault for fault in value if fault not in STREAM_FAULTS]
        if unknown:
            raise ValueError(f"unknown stream faults {unknown}; use 'drop' or an error type")
        return value

    @field_validator("fail_always", "random_failure_status")
    @classmethod
    def _known_status(cls, value: int | None) -> int | None:
        return None if value is None else _check_status(value)


class StandinConfig(BaseModel):
    """Whole-server configuration; `agents` overrides `default` for the agent names it lists."""

    model_config = ConfigDict(extra="forbid")

    default: AgentBehaviour = Field(default_factory=AgentBehaviour)
    agents: dict[str, AgentBehaviour] = Field(
        default_factory=dict,
        description="Keyed by agent name: the forced tool, else the first tool, else the output schema's title, "
        "else 'default'.",
    )
    seed: int = Field(default=0, description="Seeds the `failure_rate` RNG so runs are repeatable.")
    require_api_key: bool = Field(
        default=False, description="Reject requests without x-api-key or Authorization: Bearer with 401."
    )

    batch_expiry_s: float = Field(
        default=24 * 3600.0,
        gt=0,
        description="A Message Batch's unfinished requests expire this long after its creation (the API's 24 hours; "
        "https://platform.claude.com/docs/en/build-with-claude/batch-processing).",
    )
    batch_results_kept_s: float = Field(
        default=29 * 24 * 3600.0,
        gt=0,
        description="A Message Batch's results can be downloaded this long after its creation, then it is archived "
        "(the API's 29 days).",
    )

    def behaviour_for(self, agent: str) -> AgentBehaviour:
        return self.agents.get(agent, self.default)
