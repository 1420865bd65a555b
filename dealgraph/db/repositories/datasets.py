"""Datasets of calls and their frozen versions; the calls a selection picks."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import (
    Dataset,
    DatasetVersion,
    Deal,
    PromptLabel,
    PromptTemplate,
    ResultCorrection,
    Transcript,
)


async def pick_calls(
    session: AsyncSession,
    *,
    transcript_ids: Sequence[uuid.UUID] | None,
    deal_ids: Sequence[uuid.UUID] | None,
    account_ids: Sequence[uuid.UUID] | None,
    occurred_from: datetime | None,
    occurred_to: datetime | None,
    corrected_only: bool,
) -> list[uuid.UUID]:
    """The tenant's calls meeting every given condition, oldest first."""
    query = select(Transcript.id).order_by(Transcript.occurred_at, Transcript.id)
    if transcript_ids is not None:
        query = query.where(Transcript.id.in_(transcript_ids))
    if deal_ids is not None:
        query = query.where(Transcript.deal_id.in_(deal_ids))
    if account_ids is not None:
        query = query.where(
            Transcript.deal_id.in_(select(Deal.id).where(Deal.account_id.in_(account_ids)).scalar_subquery())
        )
    if occurred_from is not None:
        query = query.where(Transcript.occurred_at >= occurred_from)
    if occurred_to is not None:
        query = query.where(Transcript.occurred_at < occurred_to)
    if corrected_only:
        query = query.where(exists().where(ResultCorrection.transcript_id == Transcript.id))
    return list(await session.scalars(query))


async def create(session: AsyncSession, row: Mapping[str, Any]) -> Dataset | None:
    """None when the tenant already has a dataset of that name."""
    statement = insert(Dataset).values(dict(row)).on_conflict_do_nothing(constraint="uq_datasets_tenant_name")
    return await session.scalar(statement.returning(Dataset))


async def add_version(session: AsyncSession, row: Mapping[str, Any]) -> DatasetVersion:
    version = await session.scalar(insert(DatasetVersion).values(dict(row)).returning(DatasetVersion))
    assert version is not None  # an insert without conflict handling returns its row or raises
    return version


async def locked(session: AsyncSession, dataset_id: uuid.UUID) -> Dataset | None:
    """The dataset, locked until the transaction ends, so two additions cannot both write version n + 1."""
    return await session.scalar(select(Dataset).where(Dataset.id == dataset_id).with_for_update())


async def version(session: AsyncSession, dataset_id: uuid.UUID, number: int) -> DatasetVersion | None:
    return await session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.version == number)
    )


async def all_datasets(session: AsyncSession) -> list[Dataset]:
    return list(await session.scalars(select(Dataset).order_by(Dataset.name)))


async def latest_version(session: AsyncSession, dataset_id: uuid.UUID) -> DatasetVersion | None:
    return await session.scalar(
        select(DatasetVersion).where(DatasetVersion.dataset_id == dataset_id).order_by(DatasetVersion.version.desc())
    )


async def labelled_versions(session: AsyncSession, label: str, agents: Sequence[str]) -> dict[str, uuid.UUID]:
    """Per agent, the version `label` points at: the tenant's own template's label first, else the global one's
    (as analyses resolve it)."""
    query = (
        select(PromptTemplate.agent, PromptLabel.version_id)
        .join(PromptLabel, PromptLabel.template_id == PromptTemplate.id)
        .where(PromptTemplate.agent.in_(agents), PromptLabel.name == label)
        .order_by(PromptTemplate.tenant_id.is_(None))
    )
    found: dict[str, uuid.UUID] = {}
    for agent, version_id in (await session.execute(query)).all():
        found.setdefault(agent, version_id)
    return found
