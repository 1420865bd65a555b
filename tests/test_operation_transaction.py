"""The transaction a query operation's resolvers share: one connection, scoped to the tenant, and
nothing can reopen it once the operation ended (a late DataLoader batch would leak a connection)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.db.session import OperationTransaction
from tests.support import TenantFactory


async def test_concurrent_uses_share_one_tenant_scoped_transaction(app: Starlette, tenants: TenantFactory) -> None:
    who = await tenants.create()
    transaction = OperationTransaction(app.state.database, who.tenant_id)

    async def seen() -> tuple[int, str, str]:
        async with transaction.session() as session:
            row = (await session.execute(text(
                "SELECT txid_current(), current_user, current_setting('app.tenant_id')"
            ))).one()
            return int(row[0]), str(row[1]), str(row[2])

    try:
        results = await asyncio.gather(*(seen() for _ in range(5)))
    finally:
        await transaction.close()
    assert len(set(results)) == 1
    _, role, tenant = results[0]
    assert (role, tenant) == (app.state.database.app_role, str(who.tenant_id))


async def test_an_ended_transaction_cannot_be_reopened(app: Starlette, tenants: TenantFactory) -> None:
    who = await tenants.create()
    transaction = OperationTransaction(app.state.database, who.tenant_id)
    async with transaction.session() as session:
        await session.execute(text("SELECT 1"))
    await transaction.close()
    with pytest.raises(RuntimeError):
        async with transaction.session():
            pass
