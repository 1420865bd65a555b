"""Tenant isolation, enforced twice: by the application and by PostgreSQL row-level security."""

from __future__ import annotations

import uuid

from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.prompts.request import tenant_cache_key
from tests.factories import create_account, create_deal_with_account
from tests.graphql_documents import CREATE_TRANSCRIPT_VARS, DEAL, DELETE_DEAL, NODE, UPDATE_DEAL
from tests.support import GraphQLClient, TenantFactory, TenantHandle


async def _seed(gql: GraphQLClient, who: TenantHandle, name: str) -> dict[str, str]:
    deal = await create_deal_with_account(gql, who, name, name=f"{name} deal")
    return {"account": deal["account"]["id"], "deal": deal["id"]}


async def test_raw_sql_in_a_tenant_transaction_sees_only_that_tenant(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    acme, globex = await tenants.create(), await tenants.create()
    await _seed(gql, acme, "Acme")
    await _seed(gql, globex, "Globex")
    database = app.state.database
    async with database.tenant_session(acme.tenant_id) as session:
        assert (await session.execute(text("SELECT current_user"))).scalar_one() == "dealgraph_app"
        names = (await session.execute(text("SELECT name FROM deals"))).scalars().all()
        tenant_ids = set((await session.execute(text("SELECT tenant_id FROM accounts"))).scalars().all())
        users = set((await session.execute(text("SELECT tenant_id FROM users"))).scalars().all())
        visible_tenants = (await session.execute(text("SELECT id FROM tenants"))).scalars().all()
    assert names == ["Acme deal"]
    assert tenant_ids == {acme.tenant_id} and users == {acme.tenant_id}
    assert visible_tenants == [acme.tenant_id]


async def test_no_tenant_set_means_no_rows(app: Starlette, gql: GraphQLClient, tenants: TenantFactory) -> None:
    await _seed(gql, await tenants.create(), "Initech")
    async with app.state.database.tenant_session(None) as session:
        assert (await session.execute(text("SELECT count(*) FROM deals"))).scalar_one() == 0
        assert (await session.execute(text("SELECT count(*) FROM api_keys"))).scalar_one() == 0


async def test_rls_rejects_writes_into_another_tenant(app: Starlette, tenants: TenantFactory) -> None:
    acme, globex = await tenants.create(), await tenants.create()
    async with app.state.database.tenant_session(acme.tenant_id) as session:
        insert = text("INSERT INTO accounts (tenant_id, name) VALUES (:t, 'Smuggled')")
        try:
            await session.execute(insert, {"t": str(globex.tenant_id)})
        except Exception as error:  # noqa: BLE001 - asserting on the database's refusal
            assert "row-level security" in str(error)
        else:
            raise AssertionError("insert into another tenant was accepted")


async def test_ids_from_another_tenant_are_not_found(gql: GraphQLClient, tenants: TenantFactory) -> None:
    acme, globex = await tenants.create(), await tenants.create()
    theirs = await _seed(gql, globex, "Globex")
    assert (await gql(DEAL, {"id": theirs["deal"]}, as_=acme))["deal"] is None
    assert (await gql(NODE, {"id": theirs["account"]}, as_=acme))["node"] is None
    update = await gql(UPDATE_DEAL, {"input": {"id": theirs["deal"], "name": "pwned"}}, as_=acme)
    assert update["updateDeal"]["errors"][0]["code"] == "NOT_FOUND"
    delete = await gql(DELETE_DEAL, {"id": theirs["deal"]}, as_=acme)
    assert delete["deleteDeal"]["errors"][0]["code"] == "NOT_FOUND"
    mine = await create_account(gql, acme, "Acme")
    cross = await gql(
        "mutation($i: CreateDealInput!) { createDeal(input: $i) { errors { field code } } }",
        {"i": {"accountId": theirs["account"], "name": "x"}},
        as_=acme,
    )
    assert cross["createDeal"]["errors"] == [{"field": "input.accountId", "code": "NOT_FOUND"}]
    assert mine["name"] == "Acme"
    transcript = await gql(
        "mutation($i: AddTranscriptInput!) { addTranscript(input: $i) { errors { field code } } }",
        {"i": {**CREATE_TRANSCRIPT_VARS, "dealId": theirs["deal"]}},
        as_=acme,
    )
    assert transcript["addTranscript"]["errors"] == [{"field": "input.dealId", "code": "NOT_FOUND"}]
    # And the owner still sees it untouched.
    assert (await gql(DEAL, {"id": theirs["deal"]}, as_=globex))["deal"]["name"] == "Globex deal"


async def test_lists_never_include_other_tenants(gql: GraphQLClient, tenants: TenantFactory) -> None:
    acme, globex = await tenants.create(), await tenants.create()
    await _seed(gql, acme, "Acme")
    await _seed(gql, globex, "Globex")
    query = "{ deals { totalCount edges { node { name account { name } } } } accounts { totalCount } }"
    data = await gql(query, as_=acme)
    assert data["deals"]["totalCount"] == 1 and data["accounts"]["totalCount"] == 1
    assert data["deals"]["edges"][0]["node"] == {"name": "Acme deal", "account": {"name": "Acme"}}


def test_a_tenant_is_named_in_its_prompts_by_an_opaque_stable_value() -> None:
    """The value that leads every cached prefix: the same for all of a tenant's runs, another for any other
    tenant or server secret, and nothing of the tenant's id in it."""
    acme, globex = uuid.uuid4(), uuid.uuid4()
    key = tenant_cache_key(acme, "secret")
    assert key == tenant_cache_key(acme, "secret") != tenant_cache_key(globex, "secret")
    assert key != tenant_cache_key(acme, "another secret") and acme.hex[:8] not in key
