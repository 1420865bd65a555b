"""Proposed CRM updates and their audit: reads by deal, the locks decisions take, and the writes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import Deal, DealProposal, DealStage, ProposalDecision, ProposalField, ProposalStatus
from dealgraph.db.repositories import runs
from dealgraph.db.repositories.deal_events import PROPOSALS, deal_event


def deal_value(deal: Deal, field: ProposalField) -> Any:
    """The deal's value of `field` as a proposal stores it (JSON); None for a follow-up email or an unset field."""
    column = field.deal_column
    value = getattr(deal, column) if column else None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, DealStage):
        return value.value
    return value


async def lock_deal(session: AsyncSession, deal_id: uuid.UUID) -> Deal | None:
    """The deal, locked until the transaction ends: proposals of a deal are made and decided one at a time."""
    deal: Deal | None = await session.scalar(select(Deal).where(Deal.id == deal_id).with_for_update())
    return deal


async def deal_of(session: AsyncSession, proposal_id: uuid.UUID) -> uuid.UUID | None:
    deal_id: uuid.UUID | None = await session.scalar(select(DealProposal.deal_id).where(DealProposal.id == proposal_id))
    return deal_id


async def run_has_proposals(session: AsyncSession, run_id: uuid.UUID) -> bool:
    """Whether the run's proposals were recorded already (a run taken over by another pool finishes again)."""
    return bool(await session.scalar(select(exists().where(DealProposal.run_id == run_id))))


async def supersede(session: AsyncSession, deal_id: uuid.UUID, fields: Sequence[str]) -> list[DealProposal]:
    """The deal's open proposals for `fields`, now SUPERSEDED (a newer call proposes those fields again)."""
    superseded = await session.scalars(
        update(DealProposal)
        .where(
            DealProposal.deal_id == deal_id,
            DealProposal.field.in_(fields),
            DealProposal.status == ProposalStatus.SUGGESTED.value,
        )
        .values(status=ProposalStatus.SUPERSEDED.value, decided_at=func.now(), updated_at=func.now())
        .returning(DealProposal)
    )
    return list(superseded.all())


async def save(session: AsyncSession, rows: Sequence[DealProposal | ProposalDecision]) -> None:
    """Written now (not at commit), so the rows have their ids and timestamps for the events and the answer."""
    session.add_all(rows)
    await session.flush()


async def now(session: AsyncSession) -> datetime:
    """The transaction's time, which the audit rows written with a decision carry too."""
    return (await session.execute(select(func.now()))).scalar_one()


async def get_for_update(session: AsyncSession, proposal_id: uuid.UUID) -> DealProposal | None:
    proposal: DealProposal | None = await session.scalar(
        select(DealProposal).where(DealProposal.id == proposal_id).with_for_update()
    )
    return proposal


async def by_deals(session: AsyncSession, keys: Sequence[tuple[uuid.UUID, str | None]]) -> list[list[DealProposal]]:
    """Per (deal, status or None for any), its proposals, newest first: one statement for every key."""
    deal_ids = list({deal_id for deal_id, _ in keys})
    query = (
        select(DealProposal)
        .where(DealProposal.deal_id.in_(deal_ids))
        .order_by(DealProposal.created_at.desc(), DealProposal.field, DealProposal.id)
    )
    grouped: dict[uuid.UUID, list[DealProposal]] = defaultdict(list)
    for row in (await session.scalars(query)).all():
        grouped[row.deal_id].append(row)
    return [[row for row in grouped[deal_id] if status is None or row.status == status] for deal_id, status in keys]


async def decisions_of(session: AsyncSession, proposal_ids: Sequence[uuid.UUID]) -> list[list[ProposalDecision]]:
    """Per proposal, its decisions in the order they were made."""
    query = (
        select(ProposalDecision)
        .where(ProposalDecision.proposal_id.in_(proposal_ids))
        .order_by(ProposalDecision.created_at, ProposalDecision.id)
    )
    grouped: dict[uuid.UUID, list[ProposalDecision]] = defaultdict(list)
    for row in (await session.scalars(query)).all():
        grouped[row.proposal_id].append(row)
    return [grouped[proposal_id] for proposal_id in proposal_ids]


async def by_ids(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[DealProposal | None]:
    found = {row.id: row for row in (await session.scalars(select(DealProposal).where(DealProposal.id.in_(ids))))}
    return [found.get(proposal_id) for proposal_id in ids]


async def announce(session: AsyncSession, rows: Sequence[DealProposal]) -> None:
    """With the transaction's commit: the proposals made or decided, one `dealEvents` event per deal."""
    by_deal: dict[tuple[uuid.UUID, uuid.UUID], list[str]] = defaultdict(list)
    for row in rows:
        by_deal[(row.tenant_id, row.deal_id)].append(str(row.id))
    await runs.notify(
        session,
        (deal_event(PROPOSALS, tenant, deal, proposals=ids) for (tenant, deal), ids in by_deal.items()),
    )
