"""Starting, cancelling and rerunning analyses (the work itself happens in `dealgraph.agents`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS
from dealgraph.db.models import AgentRun, Analysis, Transcript
from dealgraph.db.repositories import runs
from dealgraph.db.session import TenantScope
from dealgraph.resolvers.validation import Checker, ErrorCode, FieldError, InvalidInput

MAX_IDEMPOTENCY_KEY = 200


async def start_analysis(
    scope: TenantScope,
    requested_by: uuid.UUID,
    transcript_id: uuid.UUID | None,
    agents: Sequence[AgentKind] | None,
    idempotency_key: str | None,
) -> Analysis:
    chosen = list(dict.fromkeys(agents)) if agents is not None else list(AgentKind)
    check = Checker()
    check.check(bool(chosen), "agents", "choose at least one agent")
    key = check.text(idempotency_key, "idempotencyKey", max_length=MAX_IDEMPOTENCY_KEY, required=False)
    check.raise_if_any()
    async with scope.session() as session:
        transcript = await session.get(Transcript, transcript_id) if transcript_id else None
        if transcript is None:
            raise InvalidInput(FieldError("transcriptId", "transcript not found", ErrorCode.NOT_FOUND))
        started = await runs.start_analysis(
            session,
            transcript=transcript,
            requested_by=requested_by,
            agents=[agent.value for agent in chosen],
            prompt_versions={agent.value: AGENTS[agent].prompt_version for agent in chosen},
            idempotency_key=key,
        )
    same_request = started.analysis.transcript_id == transcript.id and started.analysis.agents == [a.value for a in chosen]
    if not started.created and not same_request:
        raise InvalidInput(
            FieldError("idempotencyKey", "this key was already used for a different analysis request", ErrorCode.CONFLICT)
        )
    return started.analysis


async def cancel_analysis(scope: TenantScope, analysis_id: uuid.UUID | None) -> Analysis:
    async with scope.session() as session:
        existing = await session.get(Analysis, analysis_id) if analysis_id else None
        if existing is None:
            raise InvalidInput(FieldError("id", "analysis not found", ErrorCode.NOT_FOUND))
        if existing.finished_at is not None:
            raise InvalidInput(FieldError("id", f"analysis already finished ({existing.status.value})", ErrorCode.CONFLICT))
        cancelled = await runs.cancel_analysis(session, existing.id)
    assert cancelled is not None
    return cancelled


async def rerun_agent(scope: TenantScope, analysis_id: uuid.UUID | None, agent: AgentKind) -> AgentRun:
    async with scope.session() as session:
        analysis = await session.get(Analysis, analysis_id) if analysis_id else None
        if analysis is None:
            raise InvalidInput(FieldError("analysisId", "analysis not found", ErrorCode.NOT_FOUND))
        run = await session.scalar(
            select(AgentRun).where(AgentRun.analysis_id == analysis.id, AgentRun.agent == agent.value)
        )
        if run is None:
            raise InvalidInput(FieldError("agent", "this analysis did not run that agent", ErrorCode.NOT_FOUND))
        rerun = await runs.rerun_agent(session, analysis.id, agent.value)
        if rerun is None:
            raise InvalidInput(
                FieldError("agent", f"only a failed or cancelled run can be rerun; it is {run.status.value}", ErrorCode.CONFLICT)
            )
    return rerun
