"""Deals: filtered, ordered listing and create/update/delete with validation."""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator, Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from dealgraph.db.keyset import Sort
from dealgraph.db.models import Deal, DealStage
from dealgraph.db.models.crm import MAX_AMOUNT
from dealgraph.db.repositories import deals
from dealgraph.db.repositories.conversation import FigureRange
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.services.health_rules import HealthStatus, WarningCode
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.transcripts.metrics import ConversationFigure
from dealgraph.validation import Checker, InvalidInput, Rules, text


class DealFields(TypedDict, total=False):
    name: Annotated[str, text(200)]
    stage: DealStage
    # finite, at most 28 digits: the Decimal scalar refused anything else
    amount: Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2)] | None
    currency: Annotated[
        str,
        StringConstraints(pattern=r"^[A-Z]{3}$"),
        BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
    ]
    close_date: date | None
    next_step: Annotated[str, text(500)] | None


DEAL_RULES = Rules(
    DealFields,
    {
        ("amount", "greater_than_equal"): "must not be negative",
        ("currency", "string_pattern_mismatch"): "must be an ISO 4217 code like USD",
    },
)


class DealOrderField(enum.Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"
    AMOUNT = "amount"
    CLOSE_DATE = "close_date"
    # The deal board: worst health first when descending; the most recent call.
    HEALTH = "health"
    LAST_ACTIVITY = "last_activity"
    # ...and one member per ConversationFigure, the deal's roll-up over its calls (without it, last when
    # descending), added in the class body (the enum HOWTO's `_ignore_` idiom) so that the figures are listed
    # once and mypy still sees an ordinary enum class.
    _ignore_ = ["members", "figure"]
    members = vars()
    for figure in ConversationFigure:
        members[figure.name] = figure.value


@dataclass(frozen=True, slots=True)
class DealFilter:
    stages: list[DealStage] | None = None
    account_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    close_date_from: date | None = None
    close_date_to: date | None = None
    text: str | None = None
    figure: FigureRange | None = None
    health: list[HealthStatus] | None = None
    warning: WarningCode | None = None


def deal_sort(field: DealOrderField, descending: bool) -> Sort:
    return deals.sort_by(field.value, descending)


async def list_deals(scope: TenantScope, request: PageRequest, where: DealFilter, sort: Sort) -> Page[Deal]:
    query = deals.matching(
        stages=where.stages,
        account_id=where.account_id,
        owner_id=where.owner_id,
        close_date_from=where.close_date_from,
        close_date_to=where.close_date_to,
        text=where.text,
        figure=where.figure,
        health=[status.value for status in where.health] if where.health else None,
        warning=where.warning.value if where.warning else None,
    )
    return await keyset_page(scope, query, sort, request)


async def _validated(session: AsyncSession, changes: dict[str, Any]) -> dict[str, Any]:
    """The fields given, checked: their rules, and that the account and owner they name exist."""
    check = Checker("input")
    cleaned: dict[str, Any] = dict(check.fields(DEAL_RULES, changes))
    if "account_id" in changes:
        account_id = changes["account_id"]
        found = account_id is not None and await deals.account_exists(session, account_id)
        check.check(found, "account_id", "account not found", ErrorCode.NOT_FOUND)
        cleaned["account_id"] = account_id
    if "owner_id" in changes:
        owner_id = changes["owner_id"]
        found = owner_id is None or await deals.user_exists(session, owner_id)
        check.check(found, "owner_id", "user not found", ErrorCode.NOT_FOUND)
        cleaned["owner_id"] = owner_id
    check.raise_if_any()
    return cleaned


async def create_deal(scope: TenantScope, fields: dict[str, Any], actor: uuid.UUID | None) -> Deal:
    """`actor` (the user creating it) is recorded as having put the deal in its first stage."""
    async with scope.session() as session:
        values = {"stage": DealStage.PROSPECTING, "currency": "USD"} | await _validated(session, fields)
        deal = Deal(tenant_id=scope.tenant_id, **values)
        await deals.add(session, deal)
        deals.record_stage_change(session, deal, None, actor)
    return deal


async def update_deal(
    scope: TenantScope, deal_id: uuid.UUID | None, changes: dict[str, Any], actor: uuid.UUID | None
) -> Deal:
    """A stage change is recorded with `actor` (who made it), in the same transaction."""
    async with scope.session() as session:
        deal = await deals.get(session, deal_id) if deal_id else None
        if deal is None:
            raise InvalidInput.at(("input", "id"), "deal not found", ErrorCode.NOT_FOUND)
        before = deal.stage
        for name, value in (await _validated(session, changes)).items():
            setattr(deal, name, value)
        if deal.stage != before:
            deals.record_stage_change(session, deal, before, actor)
    return deal


@dataclass(frozen=True, slots=True)
class StageEntry:
    """The deal entered `to_stage` at `changed_at` (from `from_stage`; None: it was created in it)."""

    from_stage: DealStage | None
    to_stage: DealStage
    changed_at: datetime
    changed_by: uuid.UUID | None


async def load_stage_histories(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[list[StageEntry]]:
    """DataLoader batch: each deal's stage history, oldest first, from one statement. A deal with none recorded
    (written before stage history existed, or by a bulk load) entered its current stage when it was created."""
    async with scope.session() as session:
        rows = await deals.stage_changes(session, deal_ids)
        missing = [deal_id for deal_id in deal_ids if not any(row.deal_id == deal_id for row in rows)]
        created = {deal.id: deal for deal in await deals.get_many(session, missing)} if missing else {}
    grouped: dict[uuid.UUID, list[StageEntry]] = defaultdict(list)
    for row in rows:
        grouped[row.deal_id].append(StageEntry(row.from_stage, row.to_stage, row.changed_at, row.changed_by))
    for deal_id, deal in created.items():
        grouped[deal_id].append(StageEntry(None, deal.stage, deal.created_at, None))
    return [grouped.get(deal_id, []) for deal_id in deal_ids]


async def delete_deal(scope: TenantScope, deal_id: uuid.UUID | None) -> uuid.UUID:
    """Deletes the deal's transcripts with it (they belong to it)."""
    async with scope.session() as session:
        deleted = await deals.delete_deal(session, deal_id) if deal_id else None
    if deleted is None:
        raise InvalidInput.at("id", "deal not found", ErrorCode.NOT_FOUND)
    return deleted
