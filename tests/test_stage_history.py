"""deal.stageHistory: every stage a deal entered, who moved it and when; a deal's creation is its first entry."""

from __future__ import annotations

from dealgraph.db.models import Role
from dealgraph.schema.common import global_id
from tests.factories import create_deal_with_account
from tests.graphql_documents import UPDATE_DEAL
from tests.support import GraphQLClient, TenantFactory

HISTORY = """
query($id: ID!) { deal(id: $id) { stage stageHistory { fromStage toStage changedAt changedBy { id } } } }"""


async def test_every_stage_change_is_recorded_with_who_and_when(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    deal = await create_deal_with_account(gql, admin, stage="DISCOVERY")
    for who, stage in ((member, "PROPOSAL"), (admin, "NEGOTIATION")):
        payload = (await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "stage": stage}}, as_=who))["updateDeal"]
        assert payload["errors"] == []
    # a change of anything but the stage, or to the stage it is in, is no stage change
    await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "stage": "NEGOTIATION", "name": "Renamed"}}, as_=member)

    data = (await gql(HISTORY, {"id": deal["id"]}, as_=member))["deal"]
    history = data["stageHistory"]
    assert [(h["fromStage"], h["toStage"]) for h in history] == [
        (None, "DISCOVERY"),
        ("DISCOVERY", "PROPOSAL"),
        ("PROPOSAL", "NEGOTIATION"),
    ]
    assert [h["changedBy"]["id"] for h in history] == [global_id("User", who.user_id) for who in (admin, member, admin)]
    assert [h["changedAt"] for h in history] == sorted(h["changedAt"] for h in history)
    assert data["stage"] == history[-1]["toStage"]


async def test_a_refused_update_records_no_stage_change(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal = await create_deal_with_account(gql, who)
    payload = (await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "stage": "PROPOSAL", "amount": "-1"}}, as_=who))[
        "updateDeal"
    ]
    assert payload["errors"] != []
    history = (await gql(HISTORY, {"id": deal["id"]}, as_=who))["deal"]["stageHistory"]
    assert [(h["fromStage"], h["toStage"]) for h in history] == [(None, "PROSPECTING")]


async def test_stage_history_is_the_tenants_own(gql: GraphQLClient, tenants: TenantFactory) -> None:
    owner, other = await tenants.create(), await tenants.create()
    deal = await create_deal_with_account(gql, owner)
    assert (await gql(HISTORY, {"id": deal["id"]}, as_=other))["deal"] is None
