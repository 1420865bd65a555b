"""Conversation metrics rolled up over a deal's calls and a person's, and deals and people ordered and filtered by
them, on hand-made calls whose answers are worked out by hand (definitions: dealgraph.transcripts.metrics)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.factories import create_account, create_deal, create_transcript
from tests.support import GraphQLClient, TenantFactory, TenantHandle

SETTINGS = """mutation($input: PeopleSettingsInput!) { setPeopleSettings(input: $input) { errors { message } } }"""
FIGURES = """calls timing durationSeconds talkRatio longestMonologueSeconds longestCustomerStorySeconds interactivity
             patienceMeanSeconds questionRate wordsPerMinute fillerRate"""
DEAL = f"query($id: ID!) {{ deal(id: $id) {{ conversation {{ {FIGURES} }} }} }}"
PERSON = f"""query($id: ID!, $from: DateTime, $to: DateTime) {{
  person(id: $id) {{ name metrics(from: $from, to: $to) {{ {FIGURES} }} }} }}"""
DEALS = """query($order: DealOrder, $filter: DealFilter, $after: String) {
  deals(first: 1, orderBy: $order, filter: $filter, after: $after) {
    edges { cursor node { name conversation { talkRatio } } } pageInfo { hasNextPage } } }"""
PEOPLE = """query($order: PersonOrder, $range: ConversationFigureRange) {
  people(first: 10, side: SELLER, orderBy: $order, conversation: $range) { edges { node { id name } } } }"""
SPEAKERS = "query($id: ID!) { transcript(id: $id) { speakers { name person { id } } } }"


def call(*turns: tuple[str, str | None, float, float, str]) -> str:
    return json.dumps([{"speaker": s, "email": e, "start": a, "end": b, "text": t} for s, e, a, b, t in turns])


REP, DANA = "rep@seller.example", "dana@acme.example"
# Rep 40 s (8 + 5 words, one question, one "um"), Dana 60 s; 104 s; 2 switches; one 2 s pause before Rep.
FIRST = call(
    ("Rep", REP, 0, 30, "Thanks for joining. What does success look like?"),
    ("Dana Ortiz", DANA, 32, 92, "Onboarding in weeks, not months, because the board is watching renewals closely."),
    ("Rep", REP, 94, 104, "Understood, um, we can help."),
)
# Dana 20 s, Rep 60 s (7 words, two questions); 81 s; 1 switch; one 1 s pause before Rep.
SECOND = call(
    ("Dana Ortiz", DANA, 0, 20, "We need it live in March."),
    ("Rep", REP, 21, 81, "Can you share the timeline? Who signs?"),
)
# No times: each utterance lasts its words at 150 a minute, back to back (Rep 2 s, Dana 0.4 s, Sam 1.6 s).
PLAIN = "Rep: Hello there, what matters most?\nDana Ortiz: Speed.\nSam: We ship in weeks.\n"


async def add(gql: GraphQLClient, who: TenantHandle, deal_id: str, content: str, day: str) -> dict[str, Any]:
    return await create_transcript(gql, who, deal_id, content=content, occurredAt=f"2026-{day}T10:00:00Z")


async def figures(gql: GraphQLClient, who: TenantHandle, query: str, **variables: Any) -> dict[str, Any]:
    data = await gql(query, variables, as_=who)
    found: dict[str, Any] = data["deal"]["conversation"] if "deal" in data else data["person"]["metrics"]
    return found


@pytest.fixture(scope="module")
async def deals(gql: GraphQLClient, tenants: TenantFactory) -> dict[str, Any]:
    """Deal A: FIRST and SECOND (exact). Deal B: SECOND again and PLAIN (estimated). Deal C: no calls."""
    who = await tenants.create()
    await gql(SETTINGS, {"input": {"sellerDomains": ["seller.example"], "sellerNames": ["Sam"]}}, as_=who)
    account = await create_account(gql, who, "Acme", domain="acme.example")
    ids = {name: (await create_deal(gql, who, account["id"], name=name))["id"] for name in "ABC"}
    await add(gql, who, ids["A"], FIRST, "01-10")
    await add(gql, who, ids["A"], SECOND, "02-10")
    await add(gql, who, ids["B"], SECOND, "02-20")
    plain = await add(gql, who, ids["B"], PLAIN, "03-01")
    people = (await gql(SPEAKERS, {"id": plain["id"]}, as_=who))["transcript"]["speakers"]
    return {"who": who, **ids, **{p["name"]: p["person"]["id"] for p in people}}


async def test_a_deal_rolls_up_its_calls_about_its_seller_side(gql: GraphQLClient, deals: dict[str, Any]) -> None:
    who = deals["who"]
    assert await figures(gql, who, DEAL, id=deals["A"]) == {
        "calls": 2,
        "timing": "EXACT",
        "durationSeconds": 185,
        "talkRatio": pytest.approx(100 / 180),  # seller seconds over all speaking, summed over the calls
        "longestMonologueSeconds": 60,
        "longestCustomerStorySeconds": 60,
        "interactivity": pytest.approx(3 / (185 / 60)),  # side switches per minute of the calls
        "patienceMeanSeconds": pytest.approx(1.5),  # over the calls' pauses: 2 s and 1 s
        "questionRate": pytest.approx(3 / (185 / 3600)),
        "wordsPerMinute": pytest.approx(20 / (100 / 60)),
        "fillerRate": pytest.approx(1 / (100 / 60)),
    }
    b = await figures(gql, who, DEAL, id=deals["B"])
    assert (b["calls"], b["timing"], b["talkRatio"]) == (2, "ESTIMATED", pytest.approx((60 + 3.6) / (80 + 4)))
    assert b["patienceMeanSeconds"] == pytest.approx(1)  # the plain call's pauses are unknown
    assert await figures(gql, who, DEAL, id=deals["C"]) == {
        "calls": 0,
        "timing": None,
        "durationSeconds": 0,
        **dict.fromkeys(
            [
                "talkRatio",
                "longestMonologueSeconds",
                "longestCustomerStorySeconds",
                "interactivity",
                "patienceMeanSeconds",
                "questionRate",
                "wordsPerMinute",
                "fillerRate",
            ]
        ),
    }


async def test_a_person_rolls_up_their_own_talk_over_their_calls_in_a_date_range(
    gql: GraphQLClient, deals: dict[str, Any]
) -> None:
    who, rep = deals["who"], deals["Rep"]
    everything = await figures(gql, who, PERSON, id=rep)
    assert everything["calls"] == 4 and everything["timing"] == "ESTIMATED"
    assert everything["talkRatio"] == pytest.approx((40 + 60 + 60 + 2) / (100 + 80 + 80 + 4))
    january = await figures(gql, who, PERSON, id=rep, **{"from": "2026-01-01T00:00:00Z", "to": "2026-02-10T10:00:00Z"})
    assert january == {
        "calls": 1,  # `to` is exclusive: SECOND on 2026-02-10T10:00 is left out
        "timing": "EXACT",
        "durationSeconds": 104,
        "talkRatio": pytest.approx(0.4),
        "longestMonologueSeconds": 30,
        "longestCustomerStorySeconds": 60,
        "interactivity": pytest.approx(2 / (104 / 60)),
        "patienceMeanSeconds": pytest.approx(2),
        "questionRate": pytest.approx(1 / (104 / 3600)),
        "wordsPerMinute": pytest.approx(13 / (40 / 60)),
        "fillerRate": pytest.approx(1 / (40 / 60)),
    }
    sam = await figures(gql, who, PERSON, id=deals["Sam"])
    assert (sam["calls"], sam["talkRatio"], sam["timing"]) == (1, pytest.approx(1.6 / 4), "ESTIMATED")


async def deal_names(gql: GraphQLClient, who: TenantHandle, **variables: Any) -> list[str]:
    """Every page of one deal, following the cursors."""
    names, after = [], None
    while True:
        page = (await gql(DEALS, {**variables, "after": after}, as_=who))["deals"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["edges"][-1]["cursor"]


async def test_deals_ordered_and_filtered_by_a_figure_page_by_page(gql: GraphQLClient, deals: dict[str, Any]) -> None:
    who = deals["who"]
    talk = {"field": "TALK_RATIO", "direction": "DESC"}
    assert await deal_names(gql, who, order=talk) == ["B", "A", "C"]  # C has no calls: last
    assert await deal_names(gql, who, order={**talk, "direction": "ASC"}) == ["C", "A", "B"]
    assert await deal_names(gql, who, order={"field": "LONGEST_CUSTOMER_STORY", "direction": "DESC"}) == ["A", "B", "C"]
    in_range = {"conversation": {"figure": "TALK_RATIO", "atLeast": 0.5, "atMost": 0.7}}
    assert await deal_names(gql, who, order=talk, filter=in_range) == ["A"]
    assert await deal_names(gql, who, filter={"conversation": {"figure": "PATIENCE", "atMost": 10}}) == ["B", "A"]


async def test_sellers_ordered_and_filtered_by_a_figure(gql: GraphQLClient, deals: dict[str, Any]) -> None:
    who = deals["who"]

    async def names(**variables: Any) -> list[str]:
        return [e["node"]["name"] for e in (await gql(PEOPLE, variables, as_=who))["people"]["edges"]]

    assert await names() == ["Rep", "Sam"]
    assert await names(order={"field": "TALK_RATIO", "direction": "ASC"}) == ["Sam", "Rep"]
    assert await names(order={"field": "QUESTION_RATE", "direction": "DESC"}) == ["Rep", "Sam"]
    assert await names(range={"figure": "TALK_RATIO", "atMost": 0.5}) == ["Sam"]


# FIRST with the rep's last utterance under a second label of the same email: one person, two labels, one call.
TWO_LABELS = call(
    ("Rep", REP, 0, 30, "Thanks for joining. What does success look like?"),
    ("Dana Ortiz", DANA, 32, 92, "Onboarding in weeks, not months, because the board is watching renewals closely."),
    ("Rep (Seller Inc)", REP, 94, 104, "Understood, um, we can help."),
)
# Sam 30 s of 100 s: a talk ratio of 0.3, between the rep's right 0.4 and what counting the rep's call twice gives.
SAMS_CALL = call(
    ("Sam", None, 0, 30, "Our roadmap covers that, and more."),
    ("Dana Ortiz", DANA, 30, 100, "Good, because onboarding speed decides this."),
)
PEOPLE_OF_DEAL = """query($id: ID!) { deal(id: $id) { people {
  person { name calls { totalCount } deals { totalCount } } callsAttended speakingSeconds talkShare firstSeen lastSeen
} } }"""


async def test_a_person_under_two_labels_of_one_call_counts_it_once(gql: GraphQLClient, tenants: TenantFactory) -> None:
    """The rep speaks as "Rep" and "Rep (Seller Inc)" on one call: their roll-up, the sellers' order and filter
    and the deal's people count the call once, with both labels' talk."""
    who = await tenants.create()
    await gql(SETTINGS, {"input": {"sellerDomains": ["seller.example"], "sellerNames": ["Sam"]}}, as_=who)
    account = await create_account(gql, who, "Acme", domain="acme.example")
    deal_id = (await create_deal(gql, who, account["id"], name="A"))["id"]
    labelled = await add(gql, who, deal_id, TWO_LABELS, "01-10")
    await add(gql, who, deal_id, SAMS_CALL, "01-11")
    speakers = (await gql(SPEAKERS, {"id": labelled["id"]}, as_=who))["transcript"]["speakers"]
    rep = {s["name"]: s["person"]["id"] for s in speakers}
    assert rep["Rep"] == rep["Rep (Seller Inc)"]

    assert await figures(gql, who, PERSON, id=rep["Rep"]) == {
        "calls": 1,
        "timing": "EXACT",
        "durationSeconds": 104,
        "talkRatio": pytest.approx(0.4),
        "longestMonologueSeconds": 30,
        "longestCustomerStorySeconds": 60,
        "interactivity": pytest.approx(2 / (104 / 60)),
        "patienceMeanSeconds": pytest.approx(2),
        "questionRate": pytest.approx(1 / (104 / 3600)),
        "wordsPerMinute": pytest.approx(13 / (40 / 60)),
        "fillerRate": pytest.approx(1 / (40 / 60)),
    }
    in_range = await figures(
        gql, who, PERSON, id=rep["Rep"], **{"from": "2026-01-10T00:00:00Z", "to": "2026-01-11T00:00:00Z"}
    )
    assert (in_range["calls"], in_range["durationSeconds"], in_range["talkRatio"]) == (1, 104, pytest.approx(0.4))

    async def sellers(**variables: Any) -> list[str]:
        return [e["node"]["name"] for e in (await gql(PEOPLE, variables, as_=who))["people"]["edges"]]

    assert await sellers(order={"field": "TALK_RATIO", "direction": "DESC"}) == ["Rep", "Sam"]
    assert await sellers(order={"field": "QUESTION_RATE", "direction": "DESC"}) == ["Rep", "Sam"]
    assert await sellers(range={"figure": "TALK_RATIO", "atLeast": 0.35}) == ["Rep"]

    people = {p["person"]["name"]: p for p in (await gql(PEOPLE_OF_DEAL, {"id": deal_id}, as_=who))["deal"]["people"]}
    assert people["Rep"] == {
        "person": {"name": "Rep", "calls": {"totalCount": 1}, "deals": {"totalCount": 1}},
        "callsAttended": 1,
        "speakingSeconds": 40,
        "talkShare": pytest.approx(0.4),
        "firstSeen": "2026-01-10T10:00:00+00:00",
        "lastSeen": "2026-01-10T10:00:00+00:00",
    }
