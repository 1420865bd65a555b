"""Deals: the filtered listing query and its sorts, reads and writes by id."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import Date, DateTime, Numeric, String, delete, func, literal_column, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import Account, Deal, DealHealth, DealStage, DealStageChange, Transcript, User
from dealgraph.db.repositories import conversation
from dealgraph.transcripts.metrics import ConversationFigure

_HEALTH = aliased(DealHealth, name="board_health")
_CALL = aliased(Transcript, name="last_call")
_SORT_KEYS: dict[str, Any] = {
    "created_at": Deal.created_at,
    "updated_at": Deal.updated_at,
    "name": func.lower(Deal.name, type_=String),
    # Deals without an amount or close date sort as the smallest amount / the latest date. Constants are SQL
    # text, not parameters, so compiled reads (graph_reads) render the very same key and cursor text ("-1.00").
    "amount": func.coalesce(Deal.amount, literal_column("CAST(-1 AS NUMERIC(14, 2))", Numeric(14, 2))),
    "close_date": func.coalesce(Deal.close_date, literal_column("'infinity'::date", Date)),
    # The board: the worse the health, the higher (never computed: 0, as UNKNOWN), read through a join (`_JOINS`;
    # every deal has its row, made by a trigger as the deal is), in the order of ix_deal_health_tenant_rank_deal.
    # Aliased: a compiled read (graph_reads) reads deal_health in the same statement for the deals' health.
    "health": _HEALTH.health_rank,
    # the latest call (none: -infinity)
    "last_activity": func.coalesce(
        select(func.max(_CALL.occurred_at)).where(_CALL.deal_id == Deal.id).correlate(Deal).scalar_subquery(),
        literal_column("CAST('-infinity' AS timestamptz)", DateTime(timezone=True)),
    ),
}


_JOINS: dict[str, tuple[tuple[Any, Any], ...]] = {"health": ((_HEALTH, _HEALTH.deal_id == Deal.id),)}


def sort_by(field: str, descending: bool) -> Sort:
    """`field` is a column's or a conversation figure's name (the cursor names it, so a cursor of another order
    is refused); a figure is the deal's roll-up over its calls."""
    if field in _SORT_KEYS:
        key = _SORT_KEYS[field]
    else:
        key = conversation.sort_key(conversation.deal_figure(ConversationFigure(field)))
    row_id = _HEALTH.deal_id if field == "health" else Deal.id  # the index's last column: the same id, joined
    return Sort(key=key, id=row_id, descending=descending, name=f"deal-{field}", joins=_JOINS.get(field, ()))


def matching(
    *,
    stages: Sequence[DealStage] | None,
    account_id: uuid.UUID | None,
    owner_id: uuid.UUID | None,
    close_date_from: date | None,
    close_date_to: date | None,
    text: str | None,
    figure: conversation.FigureRange | None = None,
    health: Sequence[str] | None = None,
    warning: str | None = None,
) -> ListQuery:
    """Deals meeting every given condition; `text` matches the deal's or its account's name (any case),
    `figure` the deal's conversation roll-up, `health` the stored status, `warning` one of its warnings' codes."""
    query = select(Deal)
    if health:
        query = query.where(Deal.id.in_(select(DealHealth.deal_id).where(DealHealth.health.in_(health))))
    if warning:
        query = query.where(Deal.id.in_(select(DealHealth.deal_id).where(DealHealth.warning_codes.contains([warning]))))
    if figure:
        query = query.where(*figure.conditions(conversation.deal_figure(figure.figure)))
    if stages:
        query = query.where(Deal.stage.in_(stages))
    if account_id:
        query = query.where(Deal.account_id == account_id)
    if owner_id:
        query = query.where(Deal.owner_id == owner_id)
    if close_date_from:
        query = query.where(Deal.close_date >= close_date_from)
    if close_date_to:
        query = query.where(Deal.close_date <= close_date_to)
    if text and text.strip():
        needle = text.strip()
        query = query.join(Account, Account.id == Deal.account_id).where(
            or_(Deal.name.icontains(needle, autoescape=True), Account.name.icontains(needle, autoescape=True))
        )
    return query


async def get(session: AsyncSession, deal_id: uuid.UUID) -> Deal | None:
    return await session.get(Deal, deal_id)


async def get_many(session: AsyncSession, deal_ids: Sequence[uuid.UUID]) -> Sequence[Deal]:
    return list(await session.scalars(select(Deal).where(Deal.id.in_(deal_ids))))


async def hold(session: AsyncSession, deal_id: uuid.UUID) -> bool:
    """Whether the deal exists; if it does, it stays until the transaction ends.

    FOR KEY SHARE, as a foreign key check takes it: a concurrent deletion of the deal waits for this
    transaction (and then takes what it adds to the deal with it) instead of failing its insert, and
    one that deleted it first is waited for, so the deal is found missing. Updates of the deal do not wait.
    """
    locked = await session.scalar(select(Deal.id).where(Deal.id == deal_id).with_for_update(key_share=True))
    return locked is not None


async def account_exists(session: AsyncSession, account_id: uuid.UUID) -> bool:
    return await session.get(Account, account_id) is not None


async def user_exists(session: AsyncSession, user_id: uuid.UUID) -> bool:
    return await session.get(User, user_id) is not None


async def add(session: AsyncSession, deal: Deal) -> None:
    """Inserted at once: its id is known after."""
    session.add(deal)
    await session.flush()


async def delete_deal(session: AsyncSession, deal_id: uuid.UUID) -> uuid.UUID | None:
    """The id if the deal was there (its transcripts go with it)."""
    return await session.scalar(delete(Deal).where(Deal.id == deal_id).returning(Deal.id))


def record_stage_change(
    session: AsyncSession, deal: Deal, from_stage: DealStage | None, changed_by: uuid.UUID | None
) -> None:
    """`deal` entered its current stage (from `from_stage`; None: it was created in it), by `changed_by`."""
    session.add(
        DealStageChange(
            tenant_id=deal.tenant_id, deal_id=deal.id, from_stage=from_stage, to_stage=deal.stage, changed_by=changed_by
        )
    )


async def stage_changes(session: AsyncSession, deal_ids: Sequence[uuid.UUID]) -> Sequence[DealStageChange]:
    """The deals' stage changes, oldest first."""
    query = (
        select(DealStageChange)
        .where(DealStageChange.deal_id.in_(deal_ids))
        .order_by(DealStageChange.changed_at, DealStageChange.id)
    )
    return list(await session.scalars(query))
