"""Accounts: the listing query and its sort, reads and writes by id."""

from __future__ import annotations

import uuid

from sqlalchemy import String, delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import Account, Deal

BY_NAME = Sort(key=func.lower(Account.name, type_=String), id=Account.id, descending=False, name="account-name")


def matching(search: str | None) -> ListQuery:
    """Accounts whose name contains `search` (any case; LIKE wildcards in it are literal)."""
    query = select(Account)
    if search:
        query = query.where(Account.name.icontains(search.strip(), autoescape=True))
    return query


async def get(session: AsyncSession, account_id: uuid.UUID) -> Account | None:
    return await session.get(Account, account_id)


def add(session: AsyncSession, account: Account) -> None:
    session.add(account)


async def has_deals(session: AsyncSession, account_id: uuid.UUID) -> bool:
    return bool(await session.scalar(select(exists().where(Deal.account_id == account_id))))


async def delete_account(session: AsyncSession, account_id: uuid.UUID) -> None:
    await session.execute(delete(Account).where(Account.id == account_id))
