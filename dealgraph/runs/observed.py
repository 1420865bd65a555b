"""What an agent run reports to metrics and traces: its span, duration, time to first token, tokens and cost.

The runner fills an `ObservedRun` as the run goes (the model once the request is built, the usage once billed),
so a run that fails still counts, under the model it asked for ("none" if it failed before choosing one).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from dealgraph.claude.client import Usage
from dealgraph.claude.prices import UnpricedModel, cost_usd
from dealgraph.db.models import RunStatus
from dealgraph.db.repositories.runs import Outcome
from dealgraph.observability import metrics, tracing


@dataclass(slots=True)
class ObservedRun:
    agent: str
    model: str = "none"
    usage: Usage = field(default_factory=Usage)
    requests: int = 0
    first_token_s: float | None = None
    started: float = field(default_factory=time.perf_counter)

    def billed(self, usage: Usage, requests: int) -> None:
        self.usage, self.requests = usage, requests

    def finish(self, outcome: Outcome, span: Span) -> None:
        label = "succeeded" if outcome.status is RunStatus.SUCCEEDED else (outcome.error_code or outcome.status.value)
        model = outcome.model or self.model
        try:
            cost = cost_usd(model, self.usage)
        except UnpricedModel:  # "none": the run failed before choosing its model
            cost = 0.0
        if metrics.enabled():
            usage = self.usage
            tokens = (
                usage.input_tokens,
                usage.output_tokens,
                usage.thinking_tokens,
                usage.cache_read_tokens,
                usage.cache_write_tokens,
            )
            metrics.record_agent_run(self.agent, model, label, time.perf_counter() - self.started, tokens, cost)
            if self.first_token_s is not None:
                metrics.record_first_token(self.agent, model, self.first_token_s)
        if span.is_recording():
            span.set_attributes(
                {
                    "gen_ai.request.model": model,
                    "gen_ai.usage.input_tokens": self.usage.input_tokens,
                    "gen_ai.usage.output_tokens": self.usage.output_tokens,
                    "dealgraph.run.outcome": label,
                    "dealgraph.run.requests": self.requests,
                    "dealgraph.run.cost_usd": cost,
                }
            )
            if outcome.status is not RunStatus.SUCCEEDED:
                span.set_attribute("error.type", label)
                span.set_status(Status(StatusCode.ERROR))


@contextmanager
def run_span(agent: str, run_id: uuid.UUID) -> Iterator[Span]:
    """`invoke_agent {agent}` (GenAI conventions): the parent of the run's Messages API requests and SQL."""
    with tracing.tracer().start_as_current_span(f"invoke_agent {agent}", kind=SpanKind.INTERNAL) as span:
        if span.is_recording():
            span.set_attributes(
                {
                    "gen_ai.operation.name": "invoke_agent",
                    "gen_ai.provider.name": "anthropic",
                    "gen_ai.agent.name": agent,
                    "dealgraph.run.id": str(run_id),
                }
            )
        yield span
