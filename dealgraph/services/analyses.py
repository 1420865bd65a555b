"""Starting, cancelling and rerunning analyses (the work itself happens in `dealgraph.agents`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from dealgraph.agents.kinds import AgentKind
from dealgraph.db.models import AgentRun, Analysis
from dealgraph.db.repositories import analyses, runs
from dealgraph.db.session import TenantScope
from dealgraph.services.prompts import check_label
from dealgraph.validation import Checker, ErrorCode, FieldError, InvalidInput

MAX_IDEMPOTENCY_KEY = 200


@dataclass(frozen=True, slots=True)
class AnalysisRequest:
    transcript_id: uuid.UUID | None
    agents: Sequence[AgentKind] | None
    idempotency_key: str | None
    prompt_label: str
    force: bool


async def start_analysis(scope: TenantScope, requested_by: uuid.UUID, request: AnalysisRequest) -> Analysis:
    chosen = list(dict.fromkeys(request.agents)) if request.agents is not None else list(AgentKind)
    check = Checker()
    check.check(bool(chosen), "agents", "choose at least one agent")
    key = check.text(request.idempotency_key, "idempotencyKey", max_length=MAX_IDEMPOTENCY_KEY, required=False)
    check_label(check, request.prompt_label, "promptLabel")  # not echoed back at any length in NOT_FOUND
    check.raise_if_any()
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
            raise InvalidInput(FieldError("transcriptId", "transcript not found", ErrorCode.NOT_FOUND))
        missing = [planned.agent for planned in call.runs if planned.prompt_version_id is None]
        if missing:
            raise InvalidInput(
                FieldError(
                    "promptLabel", f"no '{request.prompt_label}' prompt for: {', '.join(missing)}", ErrorCode.NOT_FOUND
                )
            )
        started = await runs.start_analysis(
            session,
            transcript_id=transcript_id,
            call=call,
            requested_by=requested_by,
            prompt_label=request.prompt_label,
            idempotency_key=key,
        )
    same_request = started.analysis.transcript_id == transcript_id and started.analysis.agents == [
        a.value for a in chosen
    ]
    if not started.created and not same_request:
        raise InvalidInput(
            FieldError(
                "idempotencyKey", "this key was already used for a different analysis request", ErrorCode.CONFLICT
            )
        )
    return started.analysis


async def cancel_analysis(scope: TenantScope, analysis_id: uuid.UUID | None) -> Analysis:
    async with scope.session() as session:
        existing = await analyses.get(session, analysis_id) if analysis_id else None
        if existing is None:
            raise InvalidInput(FieldError("id", "analysis not found", ErrorCode.NOT_FOUND))
        if existing.finished_at is not None:
            raise InvalidInput(
                FieldError("id", f"analysis already finished ({existing.status.value})", ErrorCode.CONFLICT)
            )
        cancelled = await runs.cancel_analysis(session, existing.id)
    assert cancelled is not None
    return cancelled


async def rerun_agent(scope: TenantScope, analysis_id: uuid.UUID | None, agent: AgentKind) -> AgentRun:
    async with scope.session() as session:
        analysis = await analyses.get(session, analysis_id) if analysis_id else None
        if analysis is None:
            raise InvalidInput(FieldError("analysisId", "analysis not found", ErrorCode.NOT_FOUND))
        run = await analyses.run_of_agent(session, analysis.id, agent.value)
        if run is None:
            raise InvalidInput(FieldError("agent", "this analysis did not run that agent", ErrorCode.NOT_FOUND))
        rerun = await runs.rerun_agent(session, analysis.id, agent.value)
        if rerun is None:
            raise InvalidInput(
                FieldError(
                    "agent",
                    f"only a failed or cancelled run can be rerun; it is {run.status.value}",
                    ErrorCode.CONFLICT,
                )
            )
    return rerun
