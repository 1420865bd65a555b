"""The transaction a query operation's resolvers share: one connection, scoped to the tenant, and
nothing can reopen it once the operation ended (a late DataLoader batch would leak a connection)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.applications import Starlette

from dealgraph.db.session import OperationTransaction
from tests.support import TenantFactory, statement_running, wait_for


async def test_concurrent_uses_share_one_tenant_scoped_transaction(app: Starlette, tenants: TenantFactory) -> None:
    who = await tenants.create()
    transaction = OperationTransaction(app.state.database, who.tenant_id)

    async def seen() -> tuple[int, str, str]:
        async with transaction.session() as session:
            row = (
                await session.execute(text("SELECT txid_current(), current_user, current_setting('app.tenant_id')"))
            ).one()
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


async def test_a_query_operation_cannot_write(app: Starlette, tenants: TenantFactory) -> None:
    """Its transaction is READ ONLY: even a resolver that tried to write (a bug) would change nothing."""
    who = await tenants.create()
    transaction = OperationTransaction(app.state.database, who.tenant_id)
    with pytest.raises(DBAPIError, match="read-only transaction"):
        async with transaction.session() as session:
            await session.execute(text("UPDATE tenants SET name = 'changed'"))
    await transaction.close(RuntimeError("the operation failed"))
    async with app.state.database.owner_session() as owner:
        names = (
            await owner.execute(text("SELECT name FROM tenants WHERE id = :id"), {"id": who.tenant_id})
        ).scalar_one()
    assert names != "changed"


async def pooled_connection_state(app: Starlette) -> tuple[str, str, bool]:
    """What the next user of a pooled connection would start with: its role, tenant, and open transaction."""
    async with app.state.database.engine.connect() as connection:
        driver = (await connection.get_raw_connection()).driver_connection
        in_transaction = driver.is_in_transaction()
        row = (await connection.execute(text("SELECT current_user, current_setting('app.tenant_id', true)"))).one()
        await connection.rollback()
    return str(row[0]), str(row[1] or ""), in_transaction


async def test_nothing_of_the_scope_outlives_the_operation(app: Starlette, tenants: TenantFactory) -> None:
    """Committed, rolled back or cancelled: the pooled connection goes back without transaction, role or tenant."""
    who = await tenants.create()
    database = app.state.database
    owner_role, _, _ = await pooled_connection_state(app)
    assert owner_role != database.app_role

    async def read(transaction: OperationTransaction) -> None:
        async with transaction.session() as session:
            await session.execute(text("SELECT count(*) FROM deals"))

    for ending in (None, RuntimeError("failed")):
        transaction = OperationTransaction(database, who.tenant_id)
        await read(transaction)
        await transaction.close(ending)
        assert await pooled_connection_state(app) == (owner_role, "", False)

    started = asyncio.Event()

    async def cancelled_mid_statement() -> None:
        transaction = OperationTransaction(database, who.tenant_id)
        try:
            async with transaction.session() as session:
                started.set()
                await session.execute(text("SELECT pg_sleep(10)"))
        except BaseException as error:
            await transaction.close(error)
            raise

    task = asyncio.create_task(cancelled_mid_statement())
    await started.wait()
    await wait_for(lambda: statement_running(database.url, "SELECT pg_sleep(10)"))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(database.pool_size):  # whichever pooled connection comes next
        assert await pooled_connection_state(app) == (owner_role, "", False)


async def test_a_connection_left_inside_a_transaction_is_never_handed_out(
    app: Starlette, tenants: TenantFactory
) -> None:
    """The pool's checkout guard: a connection whose transaction (and tenant scope) never ended is replaced."""
    who = await tenants.create()
    database = app.state.database
    async with database.engine.connect() as connection:
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        driver = (await connection.get_raw_connection()).driver_connection
        await driver.execute(f"BEGIN; SELECT set_config('app.tenant_id', '{who.tenant_id}', false)")
        leaked_pid = await driver.fetchval("SELECT pg_backend_pid()")
        assert driver.is_in_transaction()
    for _ in range(database.pool_size):
        async with database.engine.connect() as connection:
            driver = (await connection.get_raw_connection()).driver_connection
            assert not driver.is_in_transaction()
            assert await driver.fetchval("SELECT pg_backend_pid()") != leaked_pid
            assert not await driver.fetchval("SELECT current_setting('app.tenant_id', true)")
