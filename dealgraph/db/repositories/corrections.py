"""Corrections of agent results, and the latest result of an agent on a call they are made against."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import AgentRun, Analysis, ResultCorrection, RunStatus, Transcript


async def save(session: AsyncSession, row: Mapping[str, Any]) -> ResultCorrection:
    """A field corrected again keeps only the latest value, with its author and time."""
    statement = insert(ResultCorrection).values(dict(row))
    saved = await session.scalar(
        statement.on_conflict_do_update(
            constraint="uq_result_corrections_target_field",
            set_={
                "value": statement.excluded.value,
                "corrected_by_id": statement.excluded.corrected_by_id,
                "corrected_at": func.now(),
            },
        )
        .returning(ResultCorrection)
        .execution_options(populate_existing=True)
    )
    assert saved is not None  # an upsert always returns its row
    return saved


async def latest_result(session: AsyncSession, transcript_id: uuid.UUID, agent: str) -> dict[str, Any] | None:
    """The most recent successful result of `agent` on the call, what a person sees and corrects."""
    result: dict[str, Any] | None = await session.scalar(
        select(AgentRun.result)
        .join(Analysis, Analysis.id == AgentRun.analysis_id)
        .where(
            Analysis.transcript_id == transcript_id,
            AgentRun.agent == agent,
            AgentRun.status == RunStatus.SUCCEEDED,
        )
        .order_by(AgentRun.finished_at.desc())
        .limit(1)
    )
    return result


async def transcript_exists(session: AsyncSession, transcript_id: uuid.UUID) -> bool:
    return await session.get(Transcript, transcript_id) is not None


async def of_calls(session: AsyncSession, transcript_ids: Sequence[uuid.UUID]) -> list[ResultCorrection]:
    """Every correction of these calls (what an experiment's answers are scored against)."""
    query = select(ResultCorrection).where(ResultCorrection.transcript_id.in_(transcript_ids))
    return list(await session.scalars(query))
