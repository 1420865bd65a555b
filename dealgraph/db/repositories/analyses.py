"""Reads of analyses and their runs for the API: lookups, subscription snapshots, MEDDPICC results.

Every state change (and the job queue) is `dealgraph.db.repositories.runs`'.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import AgentRun, Analysis, RunStatus, Transcript

# Replay in the order things happened: finished runs by completion, then running, then queued.
_AS_IT_HAPPENED = (AgentRun.finished_at.asc().nulls_last(), AgentRun.started_at.asc().nulls_last(), AgentRun.agent)


async def get(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    return await session.get(Analysis, analysis_id)


async def get_many(session: AsyncSession, analysis_ids: Collection[uuid.UUID]) -> list[Analysis]:
    return list(await session.scalars(select(Analysis).where(Analysis.id.in_(analysis_ids))))


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> AgentRun | None:
    return await session.get(AgentRun, run_id)


async def run_of_agent(session: AsyncSession, analysis_id: uuid.UUID, agent: str) -> AgentRun | None:
    return await session.scalar(select(AgentRun).where(AgentRun.analysis_id == analysis_id, AgentRun.agent == agent))


async def runs_by_agent(session: AsyncSession, analysis_id: uuid.UUID) -> list[AgentRun]:
    return list(
        await session.scalars(select(AgentRun).where(AgentRun.analysis_id == analysis_id).order_by(AgentRun.agent))
    )


async def runs_as_they_happened(session: AsyncSession, analysis_id: uuid.UUID) -> list[AgentRun]:
    """The analysis' runs: finished ones by completion, then running, then queued."""
    query = select(AgentRun).where(AgentRun.analysis_id == analysis_id)
    return list(await session.scalars(query.order_by(*_AS_IT_HAPPENED)))


async def runs_of_analyses_as_they_happened(session: AsyncSession, analysis_ids: Sequence[uuid.UUID]) -> list[AgentRun]:
    query = select(AgentRun).where(AgentRun.analysis_id.in_(analysis_ids))
    return list(await session.scalars(query.order_by(*_AS_IT_HAPPENED)))


async def open_analyses_of_deal(session: AsyncSession, deal_id: uuid.UUID) -> list[Analysis]:
    """The deal's analyses still in progress, oldest first."""
    return list(
        await session.scalars(
            select(Analysis)
            .where(Analysis.deal_id == deal_id, Analysis.finished_at.is_(None))
            .order_by(Analysis.created_at)
        )
    )


async def succeeded_results(session: AsyncSession, deal_ids: Sequence[uuid.UUID], agent: str) -> Sequence[Any]:
    """(deal id, transcript id, call time, analysed at, result) of the agent's succeeded runs on these deals,
    most recent call first and, per call, the latest result first."""
    return (await session.execute(succeeded_results_of(Analysis.deal_id.in_(deal_ids), agent))).all()


def succeeded_results_of(deals: ColumnElement[bool], agent: str) -> Select[Any]:
    """`succeeded_results`' query for the deals `deals` selects (on `Analysis.deal_id`); a compiled read
    (graph_reads) correlates it to each deal of its page."""
    return (
        select(Analysis.deal_id, Transcript.id, Transcript.occurred_at, AgentRun.finished_at, AgentRun.result)
        .join(Analysis, Analysis.id == AgentRun.analysis_id)
        .join(Transcript, Transcript.id == Analysis.transcript_id)
        .where(deals, AgentRun.agent == agent, AgentRun.status == RunStatus.SUCCEEDED)
        .order_by(Transcript.occurred_at.desc(), Transcript.id, AgentRun.finished_at.desc())
    )
