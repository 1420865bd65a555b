"""Accounts and deals through the API: happy paths, validation errors, partial updates, deletes."""

from __future__ import annotations

from tests.factories import create_account, create_deal
from tests.graphql_documents import (
    CREATE_ACCOUNT,
    CREATE_DEAL,
    DEAL,
    DELETE_ACCOUNT,
    DELETE_DEAL,
    NODE,
    UPDATE_ACCOUNT,
    UPDATE_DEAL,
)
from tests.support import GraphQLClient, TenantFactory


async def test_create_update_delete_account(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who, "  Initech  ", domain="Initech.COM")
    assert account["name"] == "Initech" and account["domain"] == "initech.com"

    updated = await gql(UPDATE_ACCOUNT, {"input": {"id": account["id"], "domain": None}}, as_=who)
    assert updated["updateAccount"]["account"] == {"id": account["id"], "name": "Initech", "domain": None}

    deleted = await gql(DELETE_ACCOUNT, {"id": account["id"]}, as_=who)
    assert deleted["deleteAccount"] == {"deletedId": account["id"], "errors": []}
    assert (await gql(NODE, {"id": account["id"]}, as_=who))["node"] is None


async def test_account_validation_errors_name_each_field(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    data = await gql(CREATE_ACCOUNT, {"input": {"name": "   ", "domain": "not a domain"}}, as_=who)
    assert data["createAccount"]["account"] is None
    assert {(e["field"], e["code"]) for e in data["createAccount"]["errors"]} == {
        ("input.name", "INVALID"),
        ("input.domain", "INVALID"),
    }
    too_long = await gql(CREATE_ACCOUNT, {"input": {"name": "x" * 201}}, as_=who)
    assert too_long["createAccount"]["errors"][0]["message"] == "must be at most 200 characters"


async def test_account_with_deals_cannot_be_deleted(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    await create_deal(gql, who, account["id"])
    data = await gql(DELETE_ACCOUNT, {"id": account["id"]}, as_=who)
    assert data["deleteAccount"]["deletedId"] is None
    assert data["deleteAccount"]["errors"][0]["code"] == "CONFLICT"


async def test_create_deal_with_defaults_and_relations(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who, "Umbrella")
    viewer = await gql("{ viewer { user { id } } }", as_=who)
    deal = await create_deal(
        gql, who, account["id"], amount="125000.50", closeDate="2027-03-31", ownerId=viewer["viewer"]["user"]["id"]
    )
    assert deal["stage"] == "PROSPECTING" and deal["currency"] == "USD"
    assert deal["amount"] == "125000.50" and deal["closeDate"] == "2027-03-31"
    assert deal["account"] == {"id": account["id"], "name": "Umbrella"}
    assert deal["owner"]["email"].startswith("admin@")
    assert (await gql(DEAL, {"id": deal["id"]}, as_=who))["deal"] == deal


async def test_deal_validation_reports_every_problem(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    bad = {"accountId": account["id"], "name": "", "amount": "-5", "currency": "dollars"}
    errors = (await gql(CREATE_DEAL, {"input": bad}, as_=who))["createDeal"]["errors"]
    assert {e["field"] for e in errors} == {"input.name", "input.amount", "input.currency"}
    precise = {"accountId": account["id"], "name": "x", "amount": "1.005"}
    errors = (await gql(CREATE_DEAL, {"input": precise}, as_=who))["createDeal"]["errors"]
    assert errors == [{"field": "input.amount", "message": "must have at most 2 decimals", "code": "INVALID"}]


async def test_deal_on_unknown_account_is_not_found(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    deal = await create_deal(gql, who, account["id"])
    # A Deal id where an Account id belongs: wrong type is "not found", never a crash.
    errors = (await gql(CREATE_DEAL, {"input": {"accountId": deal["id"], "name": "x"}}, as_=who))["createDeal"][
        "errors"
    ]
    assert errors == [{"field": "input.accountId", "message": "account not found", "code": "NOT_FOUND"}]


async def test_partial_update_changes_only_sent_fields(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    other = await create_account(gql, who, "Hooli")
    deal = await create_deal(gql, who, account["id"], amount="1000", closeDate="2027-01-15")
    data = await gql(
        UPDATE_DEAL,
        {"input": {"id": deal["id"], "stage": "NEGOTIATION", "closeDate": None, "accountId": other["id"]}},
        as_=who,
    )
    updated = data["updateDeal"]["deal"]
    assert updated["stage"] == "NEGOTIATION" and updated["closeDate"] is None
    assert updated["amount"] == "1000.00" and updated["name"] == "Expansion"
    assert updated["account"]["name"] == "Hooli"


async def test_update_and_delete_unknown_deal(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    deal = await create_deal(gql, who, account["id"])
    assert (await gql(DELETE_DEAL, {"id": deal["id"]}, as_=who))["deleteDeal"]["deletedId"] == deal["id"]
    again = await gql(DELETE_DEAL, {"id": deal["id"]}, as_=who)
    assert again["deleteDeal"]["errors"][0]["code"] == "NOT_FOUND"
    update = await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "name": "y"}}, as_=who)
    assert update["updateDeal"]["errors"][0] == {"field": "input.id", "message": "deal not found", "code": "NOT_FOUND"}


async def test_malformed_global_id_is_a_clear_error(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    body = (await gql.raw(DEAL, {"id": "not-base64!"}, as_=who)).json()
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
