"""Events pushed by the `analysisEvents` and `dealAnalysisEvents` subscriptions."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, TypedDict

import strawberry

from dealgraph.schema.agent_results import AgentResult, agent_result
from dealgraph.schema.analyses import AgentError, AgentRun, Analysis
from dealgraph.schema.common import global_id
from dealgraph.schema.enums import AgentKind, AnalysisStatus, RunStatus
from dealgraph.services.analysis_events import AnalysisDone, DomainEvent, RunProgress, RunState


@strawberry.interface(description="Something happened to one agent run of an analysis.")
class AgentEvent:
    analysis_id: strawberry.ID
    run_id: strawberry.ID
    agent: AgentKind


@strawberry.type(description="The run is waiting for the analysis pool (new, or rerun).")
class AgentQueued(AgentEvent):
    run: AgentRun


@strawberry.type(description="The analysis pool started the run (`attempt` > 1: the pool that had it before was lost).")
class AgentStarted(AgentEvent):
    run: AgentRun
    attempt: int


@strawberry.type(description="The model is writing: output tokens so far (estimated from the stream, throttled).")
class AgentProgress(AgentEvent):
    output_tokens: int


@strawberry.type(description="The agent's result, the moment it is stored.")
class AgentSucceeded(AgentEvent):
    run: AgentRun
    result: AgentResult


@strawberry.type
class AgentFailed(AgentEvent):
    run: AgentRun
    error: AgentError


@strawberry.type
class AgentCancelled(AgentEvent):
    run: AgentRun


@strawberry.type(description="Every run of the analysis has ended; `analysis.totals` sums them up.")
class AnalysisFinished:
    analysis_id: strawberry.ID
    status: AnalysisStatus
    analysis: Analysis


AnalysisEvent = Annotated[
    AgentQueued | AgentStarted | AgentProgress | AgentSucceeded | AgentFailed | AgentCancelled | AnalysisFinished,
    strawberry.union("AnalysisEvent"),
]


class _EventIds(TypedDict):
    """The fields every `AgentEvent` shares."""

    analysis_id: strawberry.ID
    run_id: strawberry.ID
    agent: AgentKind


def _run_event(state: RunState) -> AnalysisEvent:
    row = state.run
    common = _EventIds(
        analysis_id=global_id("Analysis", row.analysis_id),
        run_id=global_id("AgentRun", row.id),
        agent=AgentKind(row.agent),
    )
    run = AgentRun.from_row(row)
    match row.status:
        case RunStatus.QUEUED:
            return AgentQueued(**common, run=run)
        case RunStatus.RUNNING:
            return AgentStarted(**common, run=run, attempt=row.attempts)
        case RunStatus.SUCCEEDED:
            assert row.result is not None
            return AgentSucceeded(**common, run=run, result=agent_result(row.agent, row.result))
        case RunStatus.FAILED:
            return AgentFailed(
                **common, run=run, error=AgentError(code=row.error_code or "", message=row.error_message or "")
            )
        case RunStatus.CANCELLED:
            return AgentCancelled(**common, run=run)
    raise AssertionError(row.status)  # pragma: no cover


@lru_cache(maxsize=256)
def to_graphql(event: DomainEvent) -> AnalysisEvent:
    """Once per event and process: subscribers of one event share its rows, so equal events (compared by
    row identity) get the same object, and `SharedEventExecution` executes it once for all of them."""
    match event:
        case RunState():
            return _run_event(event)
        case RunProgress():
            return AgentProgress(
                analysis_id=global_id("Analysis", event.analysis_id),
                run_id=global_id("AgentRun", event.run_id),
                agent=AgentKind(event.agent),
                output_tokens=event.output_tokens,
            )
        case AnalysisDone():
            return AnalysisFinished(
                analysis_id=global_id("Analysis", event.analysis.id),
                status=event.analysis.status,
                analysis=Analysis.from_row(event.analysis),
            )
