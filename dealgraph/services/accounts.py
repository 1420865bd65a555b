"""Accounts: listing, create/update/delete with validation."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BeforeValidator, StringConstraints
from typing_extensions import TypedDict

from dealgraph.db.models import Account
from dealgraph.db.repositories import accounts
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.validation import BLANK_IS_NONE, InvalidInput, Rules, text

Domain = Annotated[
    Annotated[str, StringConstraints(max_length=253, pattern=r"^([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")]
    | None,
    BLANK_IS_NONE,
    BeforeValidator(lambda value: value.lower() if isinstance(value, str) else value),
]


class AccountFields(TypedDict, total=False):
    name: Annotated[str, text(200)]
    domain: Domain


ACCOUNT_RULES = Rules(AccountFields, {("domain", "string_pattern_mismatch"): "must be a domain like acme.com"})


async def list_accounts(scope: TenantScope, request: PageRequest, search: str | None) -> Page[Account]:
    return await keyset_page(scope, accounts.matching(search), accounts.BY_NAME, request)


async def create_account(scope: TenantScope, fields: dict[str, Any]) -> Account:
    account = Account(tenant_id=scope.tenant_id, **ACCOUNT_RULES.validate(fields, at=("input",)))
    async with scope.session() as session:
        accounts.add(session, account)
    return account


async def update_account(scope: TenantScope, account_id: uuid.UUID | None, changes: dict[str, Any]) -> Account:
    cleaned = ACCOUNT_RULES.validate(changes, at=("input",))
    async with scope.session() as session:
        account = await accounts.get(session, account_id) if account_id else None
        if account is None:
            raise InvalidInput.at(("input", "id"), "account not found", ErrorCode.NOT_FOUND)
        for name, value in cleaned.items():
            setattr(account, name, value)
    return account


async def delete_account(scope: TenantScope, account_id: uuid.UUID | None) -> uuid.UUID:
    """Refuses while deals reference the account, rather than silently deleting a pipeline."""
    async with scope.session() as session:
        if account_id is None or await accounts.get(session, account_id) is None:
            raise InvalidInput.at("id", "account not found", ErrorCode.NOT_FOUND)
        if await accounts.has_deals(session, account_id):
            raise InvalidInput.at("id", "account still has deals; delete or move them first", ErrorCode.CONFLICT)
        await accounts.delete_account(session, account_id)
    return account_id
