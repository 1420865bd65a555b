"""People across calls through the API: linking speakers when a transcript is added, ambiguity, corrections
that survive re-adding a transcript, merges, the deal's people, and isolation between tenants."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dealgraph.services.ids import node_uuid
from harness.postgres import connected
from tests.analysis_support import start, wait_until_finished
from tests.factories import create_account, create_deal, create_transcript
from tests.graphql_documents import ADD_TRANSCRIPT, CREATE_TRANSCRIPT_VARS
from tests.races import mutation, payloads_once_blocked
from tests.support import GraphQLClient, TenantFactory, TenantHandle

SPEAKERS = """
query($id: ID!) { transcript(id: $id) {
  speakers { name email linkedBy person { id name side sideSource } candidates { id }
             talk { speakingSeconds talkShare } }
  metrics { timing timingRule talkRatio longestMonologueSeconds longestCustomerStorySeconds }
} }"""
DEAL_PEOPLE = """
query($id: ID!) { deal(id: $id) { people {
  person { id name } side callsAttended speakingSeconds talkShare firstSeen lastSeen
} } }"""
SET_SPEAKER = """
mutation($input: SetSpeakerPersonInput!) { setSpeakerPerson(input: $input) {
  speaker { name linkedBy person { id } } errors { field code message }
} }"""
SET_SIDE = """
mutation($id: ID!, $side: Side!) { setPersonSide(id: $id, side: $side) {
  person { id side sideSource } errors { field code }
} }"""
MERGE = """
mutation($kept: ID!, $merged: ID!) { mergePeople(keptId: $kept, mergedId: $merged) {
  person { id name email } errors { field code message }
} }"""
SETTINGS = """
mutation($input: PeopleSettingsInput!) { setPeopleSettings(input: $input) {
  settings { sellerDomains sellerNames } errors { field code message }
} }"""
DELETE = "mutation($id: ID!) { deleteTranscript(id: $id) { deletedId } }"


def call(*turns: tuple[str, str | None, float, float, str]) -> str:
    return json.dumps([{"speaker": s, "email": e, "start": a, "end": b, "text": t} for s, e, a, b, t in turns])


DISCOVERY = call(
    ("Rep", "rep@seller.example", 0, 30, "Thanks for joining. What does success look like?"),
    ("Dana Ortiz", "dana@acme.example", 31, 91, "Faster onboarding; our board wants it this quarter."),
    ("Rep", "rep@seller.example", 92, 102, "Understood."),
)


async def speakers(gql: GraphQLClient, who: TenantHandle, transcript_id: str) -> dict[str, Any]:
    data = await gql(SPEAKERS, {"id": transcript_id}, as_=who)
    return {s["name"]: s for s in data["transcript"]["speakers"]} | {"": data["transcript"]["metrics"]}


async def deal_on(gql: GraphQLClient, who: TenantHandle, domain: str = "acme.example") -> str:
    account = await create_account(gql, who, "Acme", domain=domain)
    return str((await create_deal(gql, who, account["id"]))["id"])


async def test_speakers_link_by_email_get_sides_and_metrics(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    settings = await gql(SETTINGS, {"input": {"sellerDomains": ["Seller.example"], "sellerNames": []}}, as_=who)
    assert settings["setPeopleSettings"]["settings"]["sellerDomains"] == ["seller.example"]
    deal_id = await deal_on(gql, who)
    transcript = await create_transcript(gql, who, deal_id, content=DISCOVERY)
    found = await speakers(gql, who, transcript["id"])
    assert found["Rep"]["person"]["side"] == "SELLER" and found["Rep"]["person"]["sideSource"] == "DIRECTORY"
    assert found["Dana Ortiz"]["person"]["side"] == "BUYER"  # her email is on the account's domain
    assert found["Rep"]["linkedBy"] == found["Dana Ortiz"]["linkedBy"] == "CREATED"
    assert found[""]["timing"] == "EXACT" and found[""]["talkRatio"] == 40 / 100
    assert (found[""]["longestMonologueSeconds"], found[""]["longestCustomerStorySeconds"]) == (30, 60)
    assert found["Dana Ortiz"]["talk"] == {"speakingSeconds": 60, "talkShare": 0.6}

    second = await create_transcript(gql, who, deal_id, content=DISCOVERY.replace("Understood", "Great"))
    again = await speakers(gql, who, second["id"])
    assert again["Dana Ortiz"]["linkedBy"] == "EMAIL"
    assert again["Dana Ortiz"]["person"]["id"] == found["Dana Ortiz"]["person"]["id"]

    people = (await gql(DEAL_PEOPLE, {"id": deal_id}, as_=who))["deal"]["people"]
    dana = next(p for p in people if p["person"]["name"] == "Dana Ortiz")
    assert (dana["side"], dana["callsAttended"], dana["speakingSeconds"], dana["talkShare"]) == ("BUYER", 2, 120, 0.6)


async def test_a_name_matching_two_people_stays_unlinked_with_both_listed(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    deal_id = await deal_on(gql, who)
    two_sams = call(
        ("Sam Lee", "sam.lee@acme.example", 0, 5, "Hello."),
        ("Sam  lee", "slee@acme.example", 6, 10, "Hi."),
    )
    await create_transcript(gql, who, deal_id, content=two_sams)
    plain = await create_transcript(gql, who, deal_id, content="Sam Lee: Who is this?\nRep: Me.\n")
    found = await speakers(gql, who, plain["id"])
    assert found["Sam Lee"]["person"] is None and found["Sam Lee"]["linkedBy"] is None
    assert len(found["Sam Lee"]["candidates"]) == 2
    assert found[""]["timing"] == "ESTIMATED" and found[""]["timingRule"] == "WORD_COUNT"


async def test_corrections_survive_re_adding_the_transcript(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal_id = await deal_on(gql, who)
    first = await create_transcript(gql, who, deal_id, content=DISCOVERY)
    dana_id = (await speakers(gql, who, first["id"]))["Dana Ortiz"]["person"]["id"]
    nickname = "Rep: Hi.\nDee: Hello, we need this fast.\n"
    second = await create_transcript(gql, who, deal_id, content=nickname)
    dee = (await speakers(gql, who, second["id"]))["Dee"]
    assert dee["linkedBy"] == "CREATED" and dee["person"]["id"] != dana_id

    fixed = await gql(
        SET_SPEAKER, {"input": {"transcriptId": second["id"], "speaker": "Dee", "personId": dana_id}}, as_=who
    )
    assert fixed["setSpeakerPerson"] == {
        "speaker": {"name": "Dee", "linkedBy": "CORRECTED", "person": {"id": dana_id}},
        "errors": [],
    }
    rep_id = (await speakers(gql, who, second["id"]))["Rep"]["person"]["id"]
    side = await gql(SET_SIDE, {"id": rep_id, "side": "SELLER"}, as_=who)
    assert side["setPersonSide"]["person"]["sideSource"] == "HUMAN"
    assert (await speakers(gql, who, second["id"]))[""]["talkRatio"] is not None  # recomputed with Rep a seller

    await gql(DELETE, {"id": second["id"]}, as_=who)
    readded = await create_transcript(gql, who, deal_id, content=nickname)
    found = await speakers(gql, who, readded["id"])
    assert found["Dee"]["linkedBy"] == "ALIAS" and found["Dee"]["person"]["id"] == dana_id
    assert found["Rep"]["person"] == {"id": rep_id, "name": "Rep", "side": "SELLER", "sideSource": "HUMAN"}
    assert found[""]["talkRatio"] is not None


async def test_merging_moves_calls_and_keeps_the_name(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal_id = await deal_on(gql, who)
    first = await create_transcript(gql, who, deal_id, content=DISCOVERY)
    dana_id = (await speakers(gql, who, first["id"]))["Dana Ortiz"]["person"]["id"]
    second = await create_transcript(gql, who, deal_id, content="D. Ortiz: Hello.\n")
    other_id = (await speakers(gql, who, second["id"]))["D. Ortiz"]["person"]["id"]

    itself = await gql(MERGE, {"kept": dana_id, "merged": dana_id}, as_=who)
    assert itself["mergePeople"]["errors"] == [
        {"field": "mergedId", "code": "INVALID", "message": "cannot merge a person into itself"}
    ]
    merged = await gql(MERGE, {"kept": dana_id, "merged": other_id}, as_=who)
    assert merged["mergePeople"]["person"] == {"id": dana_id, "name": "Dana Ortiz", "email": "dana@acme.example"}
    assert (await speakers(gql, who, second["id"]))["D. Ortiz"]["person"]["id"] == dana_id
    third = await create_transcript(gql, who, deal_id, content="D. Ortiz: Hello again.\n")
    assert (await speakers(gql, who, third["id"]))["D. Ortiz"]["person"]["id"] == dana_id


async def test_people_of_another_tenant_are_not_found(gql: GraphQLClient, tenants: TenantFactory) -> None:
    acme, globex = await tenants.create(), await tenants.create()
    theirs = await create_transcript(gql, globex, await deal_on(gql, globex), content=DISCOVERY)
    their_dana = (await speakers(gql, globex, theirs["id"]))["Dana Ortiz"]["person"]["id"]
    mine = await create_transcript(gql, acme, await deal_on(gql, acme), content=DISCOVERY)
    my_dana = (await speakers(gql, acme, mine["id"]))["Dana Ortiz"]["person"]["id"]
    assert my_dana != their_dana  # the same email is a different person in each tenant

    cross = await gql(
        SET_SPEAKER, {"input": {"transcriptId": mine["id"], "speaker": "Rep", "personId": their_dana}}, as_=acme
    )
    assert cross["setSpeakerPerson"]["errors"] == [
        {"field": "input.personId", "code": "NOT_FOUND", "message": "person not found"}
    ]
    assert (await gql("query($id: ID!) { person(id: $id) { id } }", {"id": their_dana}, as_=acme))["person"] is None
    side = await gql(SET_SIDE, {"id": their_dana, "side": "BUYER"}, as_=acme)
    assert side["setPersonSide"]["errors"] == [{"field": "id", "code": "NOT_FOUND"}]
    merge = await gql(MERGE, {"kept": my_dana, "merged": their_dana}, as_=acme)
    assert merge["mergePeople"]["errors"][0]["code"] == "NOT_FOUND"
    listed = await gql("{ people(first: 50) { edges { node { id } } } }", as_=acme)
    assert their_dana not in {e["node"]["id"] for e in listed["people"]["edges"]}


async def test_calls_added_at_once_share_the_people_they_both_create(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """Neither call finds Dana (by email) or Pat (by name, no email), so both create them: the second gives way
    to the first's people and links to them, instead of failing on the unique email or saving Pat twice."""
    who = await tenants.create()
    account = await create_account(gql, who, "Acme", domain="acme.example")
    deal_ids = [(await create_deal(gql, who, account["id"], name=name))["id"] for name in ("Renewal", "Upsell")]
    content = call(
        ("Dana Ortiz", "dana@acme.example", 0, 10, "We need this live by March."),
        ("Pat", None, 11, 20, "Security signs off on it."),
    )
    adds = [
        mutation(gql, who, ADD_TRANSCRIPT, {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": deal, "content": content}})
        for deal in deal_ids
    ]
    async with connected(database_url) as holder:
        lock = holder.transaction()
        await lock.start()
        # the account row, which a new buyer's foreign key check locks: held, the first insert waits there and
        # the second waits for the first's people
        await holder.execute("SELECT 1 FROM accounts WHERE id = $1 FOR UPDATE", node_uuid(account["id"], "Account"))
        payloads = await payloads_once_blocked(database_url, adds, lock.commit())
        saved = await holder.fetch("SELECT name FROM people WHERE tenant_id = $1 ORDER BY name", who.tenant_id)
    assert [payload["errors"] for payload in payloads] == [[], []]
    assert [row["name"] for row in saved] == ["Dana Ortiz", "Pat"]
    linked = [await speakers(gql, who, payload["transcript"]["id"]) for payload in payloads]
    for name in ("Dana Ortiz", "Pat"):
        assert linked[0][name]["person"]["id"] == linked[1][name]["person"]["id"]
        assert sorted(found[name]["linkedBy"] for found in linked) == [
            "CREATED",
            "EMAIL" if name == "Dana Ortiz" else "NAME",
        ]


STAKEHOLDERS_RESULT = """
query($id: ID!) { analysis(id: $id) { status agentRuns { result {
  ... on StakeholdersResult { stakeholders { name companySide } }
} } } }"""
NAMED_CALL = call(
    ("Rep", "rep@seller.example", 0, 20, "Thanks for joining. Who signs off on this?"),
    ("Dana Ortiz", None, 21, 60, "I own the budget; our CFO signs anything above fifty thousand."),
    ("Sam Reyes", None, 61, 80, "Security review takes three weeks on our side."),
    ("Rep", "rep@seller.example", 81, 90, "I will send the questionnaire today 7."),
)


async def test_stakeholder_agent_fills_in_sides_the_directory_left_unknown(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Through a real stakeholders run against the stand-in (whose answer is fixed by the call): each speaker
    without a directory side takes the one SELLER or BUYER side the agent gave them, the directory's seller keeps
    their side whatever the agent said, and the call's metrics are recomputed with the new sides."""
    who = await tenants.create()
    await gql(SETTINGS, {"input": {"sellerDomains": ["seller.example"], "sellerNames": []}}, as_=who)
    transcript = await create_transcript(gql, who, await deal_on(gql, who), content=NAMED_CALL)
    before = await speakers(gql, who, transcript["id"])
    analysis = await start(gql, who, transcript["id"], agents=["STAKEHOLDERS"])
    assert (await wait_until_finished(gql, who, analysis["id"]))["status"] == "SUCCEEDED"
    [run] = (await gql(STAKEHOLDERS_RESULT, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    said: dict[str, set[str]] = {}
    for stakeholder in run["result"]["stakeholders"]:
        if stakeholder["companySide"] in ("SELLER", "BUYER"):
            said.setdefault(stakeholder["name"], set()).add(stakeholder["companySide"])
    after = await speakers(gql, who, transcript["id"])

    inferred = {name for name, sides in said.items() if len(sides) == 1 and name != "Rep"}
    assert inferred and said.get("Rep", set()) - {"SELLER"}, f"the stand-in's answer tests nothing: {said}"
    for name in ("Dana Ortiz", "Sam Reyes"):
        expected = (said[name].pop(), "INFERRED") if name in inferred else ("UNKNOWN", None)
        assert (after[name]["person"]["side"], after[name]["person"]["sideSource"]) == expected
    assert (after["Rep"]["person"]["side"], after["Rep"]["person"]["sideSource"]) == ("SELLER", "DIRECTORY")
    sellers = ["Rep", *(name for name in inferred if after[name]["person"]["side"] == "SELLER")]
    assert after[""]["talkRatio"] == pytest.approx(sum(after[n]["talk"]["talkShare"] for n in sellers))
    assert after[""] != before[""]


TWO_LABELS_CALL = call(
    ("Rep", "rep@seller.example", 0, 20, "Thanks for joining. Who signs off on this?"),
    ("Dana", "dana@acme.example", 21, 25, "Hi all."),
    (
        "Dana Ortiz (Acme)",
        "dana@acme.example",
        26,
        60,
        "I own the budget; our CFO signs anything above fifty thousand.",
    ),
    ("Rep", "rep@seller.example", 61, 70, "Great, I will send the paperwork."),
    ("Dana Ortiz (Acme)", "dana@acme.example", 71, 90, "Security review takes three weeks on our side."),
)
DEAL_VIEWS = """query($id: ID!) { deal(id: $id) { people {
  person { name } callsAttended speakingSeconds stakeholderViews { stakeholder { name } }
} } }"""


async def test_a_person_under_two_labels_gets_the_view_the_agent_gave_either(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Dana speaks as "Dana" and as "Dana Ortiz (Acme)" (one email): her view on the call is the stakeholder the agent
    named by either label, not only by the first."""
    who = await tenants.create()
    await gql(SETTINGS, {"input": {"sellerDomains": ["seller.example"], "sellerNames": []}}, as_=who)
    deal_id = await deal_on(gql, who)
    transcript = await create_transcript(gql, who, deal_id, content=TWO_LABELS_CALL)
    analysis = await start(gql, who, transcript["id"], agents=["STAKEHOLDERS"])
    assert (await wait_until_finished(gql, who, analysis["id"]))["status"] == "SUCCEEDED"
    [run] = (await gql(STAKEHOLDERS_RESULT, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    named = {s["name"] for s in run["result"]["stakeholders"]}
    assert "Dana Ortiz (Acme)" in named and "Dana" not in named, f"the stand-in's answer tests nothing: {named}"
    people = {p["person"]["name"]: p for p in (await gql(DEAL_VIEWS, {"id": deal_id}, as_=who))["deal"]["people"]}
    assert people["Dana"] == {
        "person": {"name": "Dana"},
        "callsAttended": 1,
        "speakingSeconds": 4 + 34 + 19,
        "stakeholderViews": [{"stakeholder": {"name": "Dana Ortiz (Acme)"}}],
    }
