"""Accounts: listing, create/update/delete with validation."""

from __future__ import annotations

import re
import uuid
from typing import Any

from dealgraph.db.models import Account
from dealgraph.db.repositories import accounts
from dealgraph.db.session import TenantScope
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.validation import Checker, ErrorCode, FieldError, InvalidInput

_DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")


async def list_accounts(scope: TenantScope, request: PageRequest, search: str | None) -> Page[Account]:
    return await keyset_page(scope, accounts.matching(search), accounts.BY_NAME, request)


def _validated(changes: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    check = Checker()
    cleaned: dict[str, Any] = {}
    if creating or "name" in changes:
        cleaned["name"] = check.text(changes.get("name"), "input.name", max_length=200)
    if "domain" in changes:
        domain = check.text(changes["domain"], "input.domain", max_length=253, required=False)
        domain = domain.lower() if domain else None
        check.check(domain is None or bool(_DOMAIN.match(domain)), "input.domain", "must be a domain like acme.com")
        cleaned["domain"] = domain
    check.raise_if_any()
    return cleaned


async def create_account(scope: TenantScope, fields: dict[str, Any]) -> Account:
    account = Account(tenant_id=scope.tenant_id, **_validated(fields, creating=True))
    async with scope.session() as session:
        accounts.add(session, account)
    return account


async def update_account(scope: TenantScope, account_id: uuid.UUID | None, changes: dict[str, Any]) -> Account:
    cleaned = _validated(changes, creating=False)
    async with scope.session() as session:
        account = await accounts.get(session, account_id) if account_id else None
        if account is None:
            raise InvalidInput(FieldError("input.id", "account not found", ErrorCode.NOT_FOUND))
        for name, value in cleaned.items():
            setattr(account, name, value)
    return account


async def delete_account(scope: TenantScope, account_id: uuid.UUID | None) -> uuid.UUID:
    """Refuses while deals reference the account, rather than silently deleting a pipeline."""
    async with scope.session() as session:
        if account_id is None or await accounts.get(session, account_id) is None:
            raise InvalidInput(FieldError("id", "account not found", ErrorCode.NOT_FOUND))
        if await accounts.has_deals(session, account_id):
            raise InvalidInput(
                FieldError("id", "account still has deals; delete or move them first", ErrorCode.CONFLICT)
            )
        await accounts.delete_account(session, account_id)
    return account_id
