"""deal.health through the API: computed by the health pool on analysed calls (the stand-in's), its evidence
verified against the transcripts, recomputed when what it depends on changes, pushed over `dealEvents` with the
proposals an analysis makes (both sent again after a lost listener); the settings an admin edits; and tenant
isolation. The warnings' rules themselves: tests/test_health_rules.py."""

from __future__ import annotations

import json
from typing import Any

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.services.health_rules import WarningCode
from dealgraph.standin import RunningStandin
from harness.transcripts import DISCOVERY_CALL
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.factories import create_deal_with_account, create_transcript
from tests.graphql_documents import UPDATE_DEAL
from tests.support import (
    GraphQLClient,
    TenantFactory,
    TenantHandle,
    make_settings,
    notifications_lost,
    subscribe,
    wait_for,
    websocket,
)

HEALTH_FIELDS = """
status pending computedAt
warnings { code severity message since evidence {
  calls { id }
  quotes { quote verified utteranceIndex speaker transcript { id utterances(first: 100) { edges { node { index speaker text } } } } }
} }
nextStep { description dueDate owner evidence { quote } transcript { id } }
"""
HEALTH = f"query($id: ID!) {{ deal(id: $id) {{ health {{ {HEALTH_FIELDS} }} }} }}"
SETTINGS = "{ healthSettings { warnings { code enabled threshold defaultThreshold thresholdRange severity } } }"
UPDATE_SETTINGS = """
mutation($warnings: [WarningSettingInput!]!) {
  updateHealthSettings(input: {warnings: $warnings}) {
    settings { warnings { code enabled threshold } }
    errors { field message code }
  }
}"""
CODES = [code.value for code in WarningCode]
DEAL_EVENTS = f"""
subscription($id: ID!) {{ dealEvents(dealId: $id) {{
  __typename dealId
  ... on DealHealthChanged {{ health {{ {HEALTH_FIELDS} }} }}
  ... on ProposalsChanged {{ proposals {{ id status }} }}
}} }}"""
SUGGESTED = """query($id: ID!) { deal(id: $id) {
  proposals(status: SUGGESTED, first: 10) { edges { node { id status } } }
} }"""


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, health_pool=True, health_poll_s=0.05)


async def health_of(gql: GraphQLClient, who: TenantHandle, deal_id: str) -> dict[str, Any]:
    health: dict[str, Any] = (await gql(HEALTH, {"id": deal_id}, as_=who))["deal"]["health"]
    return health


async def settled_health(gql: GraphQLClient, who: TenantHandle, deal_id: str, timeout: float = 15) -> dict[str, Any]:
    """The health once the pool has computed everything requested so far."""

    async def settled() -> dict[str, Any] | None:
        health = await health_of(gql, who, deal_id)
        return None if health["pending"] else health

    health: dict[str, Any] = await wait_for(settled, timeout)
    return health


async def analysed_deal(gql: GraphQLClient, who: TenantHandle) -> dict[str, str]:
    """A deal whose one call the stand-in analysed with every agent."""
    ids = await transcript_for_analysis(gql, who)
    await wait_until_finished(gql, who, (await start(gql, who, ids["transcript"]))["id"])
    return ids


def assert_evidence_verified(warning: dict[str, Any], deal_calls: set[str]) -> None:
    evidence = warning["evidence"]
    assert evidence["calls"], warning  # every warning names the calls it rests on (or checked)
    assert {call["id"] for call in evidence["calls"]} <= deal_calls
    for quote in evidence["quotes"]:
        assert quote["verified"] is True
        lines = {u["node"]["index"]: u["node"] for u in quote["transcript"]["utterances"]["edges"]}
        said = lines[quote["utteranceIndex"]]
        assert quote["quote"] in said["text"] and quote["speaker"] == said["speaker"], (quote, said)


async def test_a_deal_without_analysed_calls_is_unknown(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal = await create_deal_with_account(gql, who)
    await create_transcript(gql, who, deal["id"])
    health = await settled_health(gql, who, deal["id"])
    assert (health["status"], health["warnings"]) == ("UNKNOWN", [])
    assert health["computedAt"] is not None


async def test_health_of_stand_in_analysed_calls_carries_verified_evidence(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    ids = await analysed_deal(gql, who)
    health = await settled_health(gql, who, ids["deal"])
    assert health["status"] in {"ON_TRACK", "AT_RISK", "OFF_TRACK"}
    codes = {w["code"] for w in health["warnings"]}
    # The call is dated 2026-11-02 and the discovery call talks money ("fifty thousand dollars"): no pricing
    # moment is a keyword miss here, so PRICING_NOT_DISCUSSED must not fire; three buyers spoke at most.
    assert "PRICING_NOT_DISCUSSED" not in codes
    for warning in health["warnings"]:
        assert warning["message"] and warning["since"]
        assert_evidence_verified(warning, {ids["transcript"]})
    severities = {w["severity"] for w in health["warnings"]}
    expected = "OFF_TRACK" if "HIGH" in severities else "AT_RISK" if "MEDIUM" in severities else "ON_TRACK"
    assert health["status"] == expected


async def test_recomputed_when_a_transcript_is_added_and_the_stage_changes(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    ids = await analysed_deal(gql, who)
    first = await settled_health(gql, who, ids["deal"])

    await create_transcript(gql, who, ids["deal"], title="Pricing", occurredAt="2026-11-20T10:00:00Z")
    second = await settled_health(gql, who, ids["deal"])
    assert second["computedAt"] > first["computedAt"]

    await gql(UPDATE_DEAL, {"input": {"id": ids["deal"], "stage": "CLOSED_WON"}}, as_=who)
    closed = await settled_health(gql, who, ids["deal"])
    assert closed["warnings"] == [] and closed["status"] == "ON_TRACK"  # a closed deal raises no warning


async def test_settings_an_admin_saves_apply_and_recompute(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    ids = await analysed_deal(gql, admin)
    before = await settled_health(gql, admin, ids["deal"])
    raised = [w["code"] for w in before["warnings"]]
    assert raised, "the stand-in's call raises at least one warning (e.g. NO_NEXT_STEP: its due dates are past)"

    off = [{"code": code, "enabled": False} for code in CODES]
    payload = (await gql(UPDATE_SETTINGS, {"warnings": off}, as_=admin))["updateHealthSettings"]
    assert payload["errors"] == []
    saved = {w["code"]: w["enabled"] for w in payload["settings"]["warnings"]}
    assert saved == dict.fromkeys(CODES, False)
    after = await settled_health(gql, admin, ids["deal"])
    assert after["warnings"] == [] and after["status"] == "ON_TRACK"


async def test_thresholds_are_checked_and_nothing_is_saved_when_one_is_wrong(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    defaults = (await gql(SETTINGS, as_=admin))["healthSettings"]["warnings"]
    wrong = [
        {"code": "NO_ACTIVITY", "threshold": 0},
        {"code": "NO_POWER", "threshold": 3},
        {"code": "STALLED_IN_STAGE", "threshold": 45},
    ]
    payload = (await gql(UPDATE_SETTINGS, {"warnings": wrong}, as_=admin))["updateHealthSettings"]
    assert payload["settings"] is None
    assert [(e["field"], e["message"].split(":")[0], e["code"]) for e in payload["errors"]] == [
        ("input.warnings.threshold", "NO_ACTIVITY", "INVALID"),
        ("input.warnings.threshold", "NO_POWER has no threshold", "INVALID"),
    ]
    assert (await gql(SETTINGS, as_=admin))["healthSettings"]["warnings"] == defaults

    payload = (await gql(UPDATE_SETTINGS, {"warnings": [wrong[2]]}, as_=admin))["updateHealthSettings"]
    stalled = next(w for w in payload["settings"]["warnings"] if w["code"] == "STALLED_IN_STAGE")
    assert stalled == {"code": "STALLED_IN_STAGE", "enabled": True, "threshold": 45}
    default_stalled = next(w for w in defaults if w["code"] == "STALLED_IN_STAGE")
    assert default_stalled["threshold"] == default_stalled["defaultThreshold"] == 30


async def test_members_read_settings_and_health_but_only_admins_change_settings(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    assert len((await gql(SETTINGS, as_=member))["healthSettings"]["warnings"]) == 9
    response = await gql.raw(UPDATE_SETTINGS, {"warnings": [{"code": "NO_POWER", "enabled": False}]}, as_=member)
    body = response.json()
    assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    no_power = next(
        w for w in (await gql(SETTINGS, as_=admin))["healthSettings"]["warnings"] if w["code"] == "NO_POWER"
    )
    assert no_power["enabled"] is True


async def test_health_and_settings_are_the_tenants_own(gql: GraphQLClient, tenants: TenantFactory) -> None:
    owner, other = await tenants.create(), await tenants.create()
    deal = await create_deal_with_account(gql, owner)
    await gql(UPDATE_SETTINGS, {"warnings": [{"code": "NO_ACTIVITY", "threshold": 99}]}, as_=owner)
    assert (await gql(HEALTH, {"id": deal["id"]}, as_=other))["deal"] is None
    theirs = {w["code"]: w["threshold"] for w in (await gql(SETTINGS, as_=other))["healthSettings"]["warnings"]}
    assert theirs["NO_ACTIVITY"] == 14


async def test_deal_events_push_each_health_change(app: Starlette, gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    ids = await analysed_deal(gql, admin)
    current = await settled_health(gql, admin, ids["deal"])
    async with websocket(app, admin.api_key) as ws:
        events = await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]})
        first = (await events.next())["dealEvents"]
        assert first["__typename"] == "DealHealthChanged" and first["dealId"] == ids["deal"]
        assert first["health"]["warnings"] == current["warnings"]

        assert current["warnings"], "something to clear"
        await gql(UPDATE_SETTINGS, {"warnings": [{"code": code, "enabled": False} for code in CODES]}, as_=admin)
        pushed = (await events.next())["dealEvents"]["health"]
        assert pushed["warnings"] == [] and pushed["status"] == "ON_TRACK"


def by_id(proposals: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(proposals, key=lambda proposal: proposal["id"])


async def suggested(gql: GraphQLClient, who: TenantHandle, deal_id: str) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await gql(SUGGESTED, {"id": deal_id}, as_=who))["deal"]["proposals"]["edges"]]


async def test_deal_events_push_the_health_and_the_proposals_an_analysis_makes(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create(Role.MEMBER)
    ids = await transcript_for_analysis(gql, who)
    async with websocket(app, who.api_key) as ws:
        events = await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]})
        first = (await events.next() or {})["dealEvents"]
        assert first["__typename"] == "DealHealthChanged" and first["health"]["status"] == "UNKNOWN"
        await wait_until_finished(gql, who, (await start(gql, who, ids["transcript"]))["id"])
        pushed: dict[str, list[dict[str, Any]]] = {"DealHealthChanged": [], "ProposalsChanged": []}
        while not (pushed["ProposalsChanged"] and pushed["DealHealthChanged"]):
            event = (await events.next(timeout=15) or {})["dealEvents"]
            assert event["dealId"] == ids["deal"]
            pushed[event["__typename"]].append(event)
    assert pushed["DealHealthChanged"][-1]["health"]["status"] in {"ON_TRACK", "AT_RISK", "OFF_TRACK"}
    for warning in pushed["DealHealthChanged"][-1]["health"]["warnings"]:
        assert_evidence_verified(warning, {ids["transcript"]})
    [proposals] = pushed["ProposalsChanged"]
    assert proposals["proposals"] and by_id(proposals["proposals"]) == by_id(await suggested(gql, who, ids["deal"]))


async def test_after_a_lost_listener_the_changed_health_and_the_open_proposals_are_sent_again(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, server_url: str, database_url: str
) -> None:
    admin = await tenants.create()
    ids = await analysed_deal(gql, admin)
    current = await settled_health(gql, admin, ids["deal"])
    assert current["warnings"], "something to clear"
    open_proposals = await suggested(gql, admin, ids["deal"])
    assert open_proposals, "the stand-in's meeting intelligence proposes updates"
    async with websocket(app, admin.api_key) as ws:
        events = await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]})
        assert (await events.next() or {})["dealEvents"]["health"]["warnings"] == current["warnings"]
        async with notifications_lost(app, server_url, database_url) as lost:
            await gql(UPDATE_SETTINGS, {"warnings": [{"code": code, "enabled": False} for code in CODES]}, as_=admin)
            await wait_for(lambda: any(json.loads(payload).get("kind") == "health" for payload in lost))
        health = (await events.next(timeout=15) or {})["dealEvents"]
        assert health["__typename"] == "DealHealthChanged" and health["health"]["warnings"] == []
        proposals = (await events.next(timeout=15) or {})["dealEvents"]
    assert proposals["__typename"] == "ProposalsChanged" and by_id(proposals["proposals"]) == by_id(open_proposals)


async def test_deal_events_of_another_tenants_deal_are_refused(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    owner, other = await tenants.create(), await tenants.create()
    deal = await create_deal_with_account(gql, owner)
    async with websocket(app, other.api_key) as ws:
        events = await subscribe(ws, DEAL_EVENTS, {"id": deal["id"]})
        with pytest.raises(AssertionError, match="NOT_FOUND"):
            await events.next()


async def test_a_later_call_that_mentions_no_pricing_keeps_the_deal_priced(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """PRICING_NOT_DISCUSSED looks across every call of the deal, through keyword search."""
    who = await tenants.create()
    deal = await create_deal_with_account(gql, who)
    quiet = DISCOVERY_CALL.replace("fifty thousand dollars", "the deal").replace("a draft order form", "a plan")
    transcript = await create_transcript(gql, who, deal["id"], title="No money talk", content=quiet)
    await wait_until_finished(gql, who, (await start(gql, who, transcript["id"]))["id"])
    health = await settled_health(gql, who, deal["id"])
    pricing = [w for w in health["warnings"] if w["code"] == "PRICING_NOT_DISCUSSED"]
    assert len(pricing) == 1 and [c["id"] for c in pricing[0]["evidence"]["calls"]] == [transcript["id"]]

    await create_transcript(
        gql, who, deal["id"], title="Money", content="[00:00:01] Bob Martinez: What is the price?\n"
    )
    health = await settled_health(gql, who, deal["id"])
    assert "PRICING_NOT_DISCUSSED" not in {w["code"] for w in health["warnings"]}
