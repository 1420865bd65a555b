"""Deals: filtered, ordered listing and create/update/delete with validation."""

from __future__ import annotations

import enum
import re
import uuid
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.keyset import Sort
from dealgraph.db.models import Deal, DealStage
from dealgraph.db.repositories import deals
from dealgraph.db.session import TenantScope
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.validation import Checker, ErrorCode, FieldError, InvalidInput

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_AMOUNT = Decimal("999999999999.99")


class DealOrderField(enum.Enum):
    CREATED_AT = "created_at"
    UPDATED_AT = "updated_at"
    NAME = "name"
    AMOUNT = "amount"
    CLOSE_DATE = "close_date"


@dataclass(frozen=True, slots=True)
class DealFilter:
    stages: list[DealStage] | None = None
    account_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    close_date_from: date | None = None
    close_date_to: date | None = None
    text: str | None = None


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
    )
    return await keyset_page(scope, query, sort, request)


async def _validated(session: AsyncSession, changes: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    check = Checker()
    cleaned: dict[str, Any] = {}
    if creating or "name" in changes:
        cleaned["name"] = check.text(changes.get("name"), "input.name", max_length=200)
    if "stage" in changes:
        check.check(changes["stage"] is not None, "input.stage", "must not be null")
        cleaned["stage"] = changes["stage"]
    if "amount" in changes:
        amount = changes["amount"]  # finite, at most 28 digits: the Decimal scalar refused anything else
        if amount is not None:
            check.check(amount >= 0, "input.amount", "must not be negative")
            check.check(amount <= MAX_AMOUNT, "input.amount", f"must be at most {MAX_AMOUNT}")
            # Only quantize what fits the column: a huge value would exceed the decimal context's precision.
            in_range = 0 <= amount <= MAX_AMOUNT
            whole_cents = not in_range or amount == amount.quantize(Decimal("0.01"))
            check.check(whole_cents, "input.amount", "must have at most 2 decimals")
        cleaned["amount"] = amount
    if "currency" in changes:
        currency = (changes["currency"] or "").strip().upper()
        check.check(bool(_CURRENCY.match(currency)), "input.currency", "must be an ISO 4217 code like USD")
        cleaned["currency"] = currency
    if "close_date" in changes:
        cleaned["close_date"] = changes["close_date"]
    if creating or "account_id" in changes:
        account_id = changes.get("account_id")
        found = account_id is not None and await deals.account_exists(session, account_id)
        check.check(found, "input.accountId", "account not found", ErrorCode.NOT_FOUND)
        cleaned["account_id"] = account_id
    if "owner_id" in changes:
        owner_id = changes["owner_id"]
        found = owner_id is None or await deals.user_exists(session, owner_id)
        check.check(found, "input.ownerId", "user not found", ErrorCode.NOT_FOUND)
        cleaned["owner_id"] = owner_id
    check.raise_if_any()
    return cleaned


async def create_deal(scope: TenantScope, fields: dict[str, Any]) -> Deal:
    async with scope.session() as session:
        values = {"stage": DealStage.PROSPECTING, "currency": "USD"} | await _validated(session, fields, creating=True)
        deal = Deal(tenant_id=scope.tenant_id, **values)
        deals.add(session, deal)
    return deal


async def update_deal(scope: TenantScope, deal_id: uuid.UUID | None, changes: dict[str, Any]) -> Deal:
    async with scope.session() as session:
        deal = await deals.get(session, deal_id) if deal_id else None
        if deal is None:
            raise InvalidInput(FieldError("input.id", "deal not found", ErrorCode.NOT_FOUND))
        for name, value in (await _validated(session, changes, creating=False)).items():
            setattr(deal, name, value)
    return deal


async def delete_deal(scope: TenantScope, deal_id: uuid.UUID | None) -> uuid.UUID:
    """Deletes the deal's transcripts with it (they belong to it)."""
    async with scope.session() as session:
        deleted = await deals.delete_deal(session, deal_id) if deal_id else None
    if deleted is None:
        raise InvalidInput(FieldError("id", "deal not found", ErrorCode.NOT_FOUND))
    return deleted
