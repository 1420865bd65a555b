"""Corrections of agent results through the API: made by any member, stored beside the call's results with
who and when, validated against the latest result, replaced when made again, kept across re-analysis, and
invisible to other tenants."""

from __future__ import annotations

from typing import Any

from dealgraph.db.models import Role
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle

CORRECT = """
mutation($input: CorrectResultInput!) {
  correctResult(input: $input) {
    correction { id agent field target value correctedAt correctedBy { email } }
    errors { field message code }
  }
}"""
CORRECTIONS = """
query($id: ID!) { node(id: $id) { ... on Transcript { corrections { agent field target value correctedBy { email } } } } }"""
RESULTS = """
query($id: ID!) { analysis(id: $id) { agentRuns { agent result { __typename
  ... on ActionItemsResult { items { description owner } }
  ... on StakeholdersResult { stakeholders { name committeeRole } } } } } }"""


async def analysed(gql: GraphQLClient, who: TenantHandle) -> tuple[str, dict[str, Any]]:
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"])
    await wait_until_finished(gql, who, analysis["id"])
    runs = (await gql(RESULTS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    return ids["transcript"], {run["agent"]: run["result"] for run in runs}


async def correct(gql: GraphQLClient, who: TenantHandle, transcript: str, **input: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(CORRECT, {"input": {"transcriptId": transcript, **input}}, as_=who))[
        "correctResult"
    ]
    return payload


async def test_a_member_corrects_results_and_the_corrections_outlive_re_analysis(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    transcript, results = await analysed(gql, admin)
    item = results["ACTION_ITEMS"]["items"][0]["description"]
    person = results["STAKEHOLDERS"]["stakeholders"][0]["name"]
    status = await correct(gql, member, transcript, field="MEDDPICC_STATUS", target="economic_buyer", value="partial")
    assert status["errors"] == [] and status["correction"]["correctedBy"]["email"].startswith("member-")
    assert (status["correction"]["agent"], status["correction"]["value"]) == ("MEDDPICC", "partial")
    owner = await correct(gql, member, transcript, field="ACTION_ITEM_OWNER", target=item, value="  Dana Lee ")
    assert owner["correction"]["value"] == "Dana Lee"
    due = await correct(gql, member, transcript, field="ACTION_ITEM_DUE_DATE", target=item, value="2026-04-01")
    assert due["correction"]["value"] == "2026-04-01"
    role = await correct(gql, admin, transcript, field="STAKEHOLDER_ROLE", target=person, value="champion")
    assert role["errors"] == []
    again = await correct(gql, admin, transcript, field="MEDDPICC_STATUS", target="economic_buyer", value="missing")
    assert again["correction"]["id"] == status["correction"]["id"]  # replaced, now by the admin
    assert again["correction"]["correctedBy"]["email"].startswith("admin@")

    analysis = await start(gql, admin, transcript, force=True)
    await wait_until_finished(gql, admin, analysis["id"])
    stored = (await gql(CORRECTIONS, {"id": transcript}, as_=member))["node"]["corrections"]
    assert [(c["agent"], c["field"], c["target"], c["value"]) for c in stored] == [
        ("ACTION_ITEMS", "ACTION_ITEM_DUE_DATE", item, "2026-04-01"),
        ("ACTION_ITEMS", "ACTION_ITEM_OWNER", item, "Dana Lee"),
        ("MEDDPICC", "MEDDPICC_STATUS", "economic_buyer", "missing"),
        ("STAKEHOLDERS", "STAKEHOLDER_ROLE", person, "champion"),
    ]


async def test_a_correction_must_name_something_the_result_has_and_a_value_it_could_hold(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    transcript, _ = await analysed(gql, who)
    cases = [
        ({"field": "MEDDPICC_STATUS", "target": "budget", "value": "partial"}, "input.target", "NOT_FOUND"),
        ({"field": "MEDDPICC_STATUS", "target": "champion", "value": "maybe"}, "input.value", "INVALID"),
        ({"field": "STAKEHOLDER_ROLE", "target": "Nobody Here", "value": "user"}, "input.target", "NOT_FOUND"),
        ({"field": "ACTION_ITEM_DUE_DATE", "target": "x", "value": "next week"}, "input.value", "INVALID"),
        ({"field": "ACTION_ITEM_OWNER", "target": "Not an item", "value": None}, "input.target", "NOT_FOUND"),
    ]
    for input, field, code in cases:
        payload = await correct(gql, who, transcript, **input)
        assert payload["correction"] is None
        assert [(error["field"], error["code"]) for error in payload["errors"]] == [(field, code)], input
    stored = (await gql(CORRECTIONS, {"id": transcript}, as_=who))["node"]["corrections"]
    assert stored == []  # nothing saved


async def test_corrections_are_the_tenants_own(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    owner, other = await tenants.create(), await tenants.create()
    transcript, _ = await analysed(gql, owner)
    foreign = await correct(gql, other, transcript, field="MEDDPICC_STATUS", target="metrics", value="missing")
    assert [(e["field"], e["code"]) for e in foreign["errors"]] == [("input.transcriptId", "NOT_FOUND")]
    await correct(gql, owner, transcript, field="MEDDPICC_STATUS", target="metrics", value="missing")
    assert (await gql(CORRECTIONS, {"id": transcript}, as_=other))["node"] is None
