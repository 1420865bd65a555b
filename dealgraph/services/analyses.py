"""Starting, cancelling and rerunning analyses (the work itself happens in `dealgraph.agents`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import Field, StringConstraints
from typing_extensions import TypedDict

from dealgraph.agents.kinds import AgentKind
from dealgraph.db.models import AgentRun, Analysis
from dealgraph.db.repositories import analyses, runs
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.services.prompts import LABEL_FORMAT, Label
from dealgraph.validation import BLANK_IS_NONE, InvalidInput, Rules

MAX_IDEMPOTENCY_KEY = 200


class AnalysisFields(TypedDict, total=False):
    agents: Annotated[list[AgentKind], Field(min_length=1)]
    idempotency_key: Annotated[Annotated[str, StringConstraints(max_length=MAX_IDEMPOTENCY_KEY)] | None, BLANK_IS_NONE]
    prompt_label: Label  # not echoed back at any length in NOT_FOUND


ANALYSIS_RULES = Rules(
    AnalysisFields,
    {("agents", "too_short"): "choose at least one agent", ("prompt_label", "string_pattern_mismatch"): LABEL_FORMAT},
)


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    transcript_id: uuid.UUID | None
    agents: Sequence[AgentKind] | None
    idempotency_key: str | None
    prompt_label: str
    force: bool


async def start_analysis(
    scope: TenantScope, requested_by: uuid.UUID, request: AnalysisRequest, *, max_queued_runs: int = 0
) -> Analysis:
    """Over the tenant's `max_queued_runs` (0: no cap) it raises TooManyRequests and nothing is created."""
    chosen = list(dict.fromkeys(request.agents)) if request.agents is not None else list(AgentKind)
    valid = ANALYSIS_RULES.validate(
        {"agents": chosen, "idempotency_key": request.idempotency_key, "prompt_label": request.prompt_label}
    )
    transcript_id = request.transcript_id
    async with scope.session() as session:
        agents = [agent.value for agent in chosen]
        reuse = not request.force
        call = (
            await runs.plan_analysis(session, transcript_id, agents, request.prompt_label, reuse=reuse)
            if transcript_id
            else None
        )
        if transcript_id is None or call is None:
            raise InvalidInput.at("transcript_id", "transcript not found", ErrorCode.NOT_FOUND)
        missing = [planned.agent for planned in call.runs if planned.prompt_version_id is None]
        if missing:
            raise InvalidInput.at(
                "prompt_label", f"no '{request.prompt_label}' prompt for: {', '.join(missing)}", ErrorCode.NOT_FOUND
            )
        started = await runs.start_analysis(
            session,
            transcript_id=transcript_id,
            call=call,
            requested_by=requested_by,
            prompt_label=request.prompt_label,
            idempotency_key=valid.get("idempotency_key"),
            max_queued_runs=max_queued_runs,
        )
    same_request = started.analysis.transcript_id == transcript_id and started.analysis.agents == [
        a.value for a in chosen
    ]
    if not started.created and not same_request:
        raise InvalidInput.at(
            "idempotency_key", "this key was already used for a different analysis request", ErrorCode.CONFLICT
        )
    return started.analysis


async def cancel_analysis(scope: TenantScope, analysis_id: uuid.UUID | None) -> Analysis:
    async with scope.session() as session:
        existing = await analyses.get(session, analysis_id) if analysis_id else None
        if existing is None:
            raise InvalidInput.at("id", "analysis not found", ErrorCode.NOT_FOUND)
        if existing.finished_at is not None:
            raise InvalidInput.at("id", f"analysis already finished ({existing.status.value})", ErrorCode.CONFLICT)
        cancelled = await runs.cancel_analysis(session, existing.id)
    assert cancelled is not None
    return cancelled


async def rerun_agent(scope: TenantScope, analysis_id: uuid.UUID | None, agent: AgentKind) -> AgentRun:
    async with scope.session() as session:
        analysis = await analyses.get(session, analysis_id) if analysis_id else None
        if analysis is None:
            raise InvalidInput.at("analysis_id", "analysis not found", ErrorCode.NOT_FOUND)
        run = await analyses.run_of_agent(session, analysis.id, agent.value)
        if run is None:
            raise InvalidInput.at("agent", "this analysis did not run that agent", ErrorCode.NOT_FOUND)
        rerun = await runs.rerun_agent(session, analysis.id, agent.value)
        if rerun is None:
            raise InvalidInput.at(
                "agent", f"only a failed or cancelled run can be rerun; it is {run.status.value}", ErrorCode.CONFLICT
            )
    return rerun
