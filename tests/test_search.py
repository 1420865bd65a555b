"""Full-text search over transcripts: ranking, highlighted snippets, timestamps, tenant scope."""

from __future__ import annotations

from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, TenantFactory, TenantHandle

SEARCH = """
query($q: String!, $first: Int, $after: String, $deal: ID) {
  searchTranscripts(query: $q, first: $first, after: $after, dealId: $deal, mode: KEYWORD) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { rank relevance snippet transcript { title } utterance { index speaker start text } } }
  }
}"""

PRICING_CALL = """[00:00:05] Alice Chen: Let's talk about pricing for the enterprise tier.
[00:01:10] Bob Martinez: Pricing is our main concern. The pricing has to fit the budget, and pricing approval sits with finance.
[00:02:30] Carol Singh: Security review comes after the pricing discussion.
[00:03:00] Bob Martinez: Our competitor Contoso offered a discount.
"""
OTHER_CALL = """Dana Wright: The budget is approved for next quarter.
Alice Chen: Great, then we can schedule the kickoff.
"""


async def _seed(gql: GraphQLClient, who: TenantHandle) -> str:
    deal = await create_deal_with_account(gql, who)
    await create_transcript(gql, who, deal["id"], title="Pricing call", content=PRICING_CALL)
    await create_transcript(gql, who, deal["id"], title="Budget call", content=OTHER_CALL)
    return deal["id"]


async def test_hits_are_ranked_highlighted_and_timestamped(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    await _seed(gql, who)
    result = (await gql(SEARCH, {"q": "pricing"}, as_=who))["searchTranscripts"]
    hits = [edge["node"] for edge in result["edges"]]
    assert result["totalCount"] == 3
    assert hits[0]["utterance"] == {
        "index": 1,
        "speaker": "Bob Martinez",
        "start": 70.0,
        "text": "Pricing is our main concern. The pricing has to fit the budget, and pricing approval sits with finance.",
    }
    assert hits[0]["rank"] > hits[1]["rank"] >= hits[2]["rank"] > 0
    assert [hit["relevance"] for hit in hits] == [hit["rank"] / (hit["rank"] + 1) for hit in hits]  # in [0, 1)
    assert "<mark>Pricing</mark>" in hits[0]["snippet"]
    assert {hit["transcript"]["title"] for hit in hits} == {"Pricing call"}


async def test_stemming_phrases_and_exclusion(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    await _seed(gql, who)
    stemmed = (await gql(SEARCH, {"q": "approve"}, as_=who))["searchTranscripts"]["edges"]
    assert {e["node"]["transcript"]["title"] for e in stemmed} == {"Pricing call", "Budget call"}
    phrase = (await gql(SEARCH, {"q": '"security review"'}, as_=who))["searchTranscripts"]["edges"]
    assert [e["node"]["utterance"]["speaker"] for e in phrase] == ["Carol Singh"]
    excluded = (await gql(SEARCH, {"q": "budget -pricing"}, as_=who))["searchTranscripts"]["edges"]
    assert [e["node"]["transcript"]["title"] for e in excluded] == ["Budget call"]
    speaker = (await gql(SEARCH, {"q": "Contoso"}, as_=who))["searchTranscripts"]["edges"]
    assert speaker[0]["node"]["utterance"]["start"] == 180.0


async def test_search_pages_and_filters_by_deal(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal_id = await _seed(gql, who)
    first = (await gql(SEARCH, {"q": "pricing", "first": 2}, as_=who))["searchTranscripts"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"]
    rest = await gql(SEARCH, {"q": "pricing", "first": 2, "after": first["pageInfo"]["endCursor"]}, as_=who)
    assert len(rest["searchTranscripts"]["edges"]) == 1
    other = await create_deal_with_account(gql, who, "Other")
    assert (await gql(SEARCH, {"q": "pricing", "deal": other["id"]}, as_=who))["searchTranscripts"]["totalCount"] == 0
    assert (await gql(SEARCH, {"q": "pricing", "deal": deal_id}, as_=who))["searchTranscripts"]["totalCount"] == 3


async def test_search_is_tenant_scoped_and_validates_query(gql: GraphQLClient, tenants: TenantFactory) -> None:
    owner, stranger = await tenants.create(), await tenants.create()
    await _seed(gql, owner)
    assert (await gql(SEARCH, {"q": "pricing"}, as_=stranger))["searchTranscripts"]["totalCount"] == 0
    for bad in ("   ", "x" * 501):
        body = (await gql.raw(SEARCH, {"q": bad}, as_=owner)).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
