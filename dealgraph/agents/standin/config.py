"""Typed knobs for the stand-in, so tests and benchmarks script failure modes instead of hoping for them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
"""Status → `error.type` as the real Messages API reports it; scripted failures are limited to these."""

DEFAULT_AGENT = "default"


def _check_status(status: int) -> int:
    if status not in ERROR_TYPES:
        raise ValueError(f"status {status} is not an Anthropic API error status ({sorted(ERROR_TYPES)})")
    return status


class AgentBehaviour(BaseModel):
    """How one agent's requests are answered; failures are checked before any output is produced."""

    model_config = ConfigDict(extra="forbid")

    latency_s: float = Field(
        default=0.05, ge=0, description="Total response time; streams spread it over their deltas."
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
    retry_after_s: float | None = Field(
        default=None, ge=0, description="Sent as retry-after / retry-after-ms on 429 and 529 responses."
    )
    invalid_output_times: int = Field(
        default=0,
        ge=0,
        description="Successful tool calls whose input drops a required property before valid ones follow.",
    )

    @field_validator("failures")
    @classmethod
    def _known_failures(cls, value: list[int]) -> list[int]:
        return [_check_status(status) for status in value]

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
        description="Keyed by agent name: the forced tool, else the first tool, else 'default'.",
    )
    seed: int = Field(default=0, description="Seeds the `failure_rate` RNG so runs are repeatable.")
    require_api_key: bool = Field(
        default=False, description="Reject requests without x-api-key or Authorization: Bearer with 401."
    )

    def behaviour_for(self, agent: str) -> AgentBehaviour:
        return self.agents.get(agent, self.default)
