"""Cursor pagination edges, deal filters and ordering."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dealgraph.schema.connections import LoadedList
from dealgraph.services.pagination import encode_cursor
from tests.factories import create_account, create_deal
from tests.support import GraphQLClient, TenantFactory, TenantHandle

DEALS_PAGE = """
query($first: Int, $after: String, $filter: DealFilter, $orderBy: DealOrder) {
  deals(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    edges { cursor node { name amount closeDate stage } }
  }
}"""


async def _names(gql: GraphQLClient, who: TenantHandle, **variables: Any) -> list[str]:
    """Walk every page and return the deal names in order."""
    names: list[str] = []
    after = None
    while True:
        page = (await gql(DEALS_PAGE, {**variables, "after": after}, as_=who))["deals"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return names
        after = page["pageInfo"]["endCursor"]


async def _seed(gql: GraphQLClient, tenants: TenantFactory) -> TenantHandle:
    who = await tenants.create()
    acme = await create_account(gql, who, "Acme")
    globex = await create_account(gql, who, "Globex")
    specs = [
        ("Alpha", acme, "500", "2027-01-10", "PROPOSAL"),
        ("Bravo", acme, None, None, "DISCOVERY"),
        ("Charlie", globex, "1500", "2027-02-01", "PROPOSAL"),
        ("Delta", globex, "500", "2026-12-24", "CLOSED_WON"),
        ("Echo", acme, "90", "2027-01-10", "NEGOTIATION"),
    ]
    for name, account, amount, close, stage in specs:
        await create_deal(gql, who, account["id"], name=name, amount=amount, closeDate=close, stage=stage)
    return who


async def test_walking_pages_of_two_visits_every_deal_once(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await _seed(gql, tenants)
    assert await _names(gql, who, first=2) == ["Echo", "Delta", "Charlie", "Bravo", "Alpha"]
    first_page = (await gql(DEALS_PAGE, {"first": 2}, as_=who))["deals"]
    assert first_page["totalCount"] == 5
    assert first_page["pageInfo"]["hasPreviousPage"] is False
    assert first_page["pageInfo"]["startCursor"] == first_page["edges"][0]["cursor"]


async def test_ordering_with_nulls_and_ties(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await _seed(gql, tenants)
    by_amount = await _names(gql, who, first=2, orderBy={"field": "AMOUNT", "direction": "ASC"})
    assert by_amount[0] == "Bravo" and by_amount[1] == "Echo" and by_amount[-1] == "Charlie"
    assert set(by_amount[2:4]) == {"Alpha", "Delta"}
    by_close = await _names(gql, who, first=1, orderBy={"field": "CLOSE_DATE", "direction": "ASC"})
    assert by_close[0] == "Delta" and by_close[-1] == "Bravo"  # no close date sorts last
    assert await _names(gql, who, first=3, orderBy={"field": "NAME", "direction": "DESC"}) == [
        "Echo",
        "Delta",
        "Charlie",
        "Bravo",
        "Alpha",
    ]


async def test_filters(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await _seed(gql, tenants)
    order = {"field": "NAME", "direction": "ASC"}
    assert await _names(gql, who, filter={"stages": ["PROPOSAL"]}, orderBy=order) == ["Alpha", "Charlie"]
    assert await _names(gql, who, filter={"text": "glob"}, orderBy=order) == ["Charlie", "Delta"]
    assert await _names(gql, who, filter={"text": "ech"}, orderBy=order) == ["Echo"]
    window = {"closeDateFrom": "2027-01-01", "closeDateTo": "2027-01-31"}
    assert await _names(gql, who, filter=window, orderBy=order) == ["Alpha", "Echo"]
    accounts = await gql('{ accounts(search: "acme") { edges { node { id } } } }', as_=who)
    acme_id = accounts["accounts"]["edges"][0]["node"]["id"]
    assert await _names(gql, who, filter={"accountId": acme_id}, orderBy=order) == ["Alpha", "Bravo", "Echo"]
    viewer = await gql("{ viewer { user { id } } }", as_=who)
    assert await _names(gql, who, filter={"ownerId": viewer["viewer"]["user"]["id"]}) == []


async def test_page_size_bounds_and_bad_cursors(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await _seed(gql, tenants)
    empty = (await gql(DEALS_PAGE, {"first": 0}, as_=who))["deals"]
    assert empty["edges"] == [] and empty["pageInfo"]["hasNextPage"] is True
    for variables in ({"first": -1}, {"first": 101}, {"after": "bm9wZQ=="}):
        body = (await gql.raw(DEALS_PAGE, variables, as_=who)).json()
        assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT", variables
    name_cursor = (await gql(DEALS_PAGE, {"first": 1, "orderBy": {"field": "NAME"}}, as_=who))["deals"]["edges"][0][
        "cursor"
    ]
    mixed = (await gql.raw(DEALS_PAGE, {"after": name_cursor}, as_=who)).json()
    assert mixed["errors"][0]["message"] == "'after' is not a cursor of this list."


async def test_last_page_and_nested_connections(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await _seed(gql, tenants)
    everything = (await gql(DEALS_PAGE, {"first": 5}, as_=who))["deals"]
    assert everything["pageInfo"]["hasNextPage"] is False
    beyond = (await gql(DEALS_PAGE, {"first": 5, "after": everything["pageInfo"]["endCursor"]}, as_=who))["deals"]
    assert beyond["edges"] == [] and beyond["pageInfo"]["endCursor"] is None
    query = """query($after: String) { accounts(first: 1) { edges { node { name
      deals(first: 2, after: $after) { totalCount pageInfo { hasNextPage endCursor } edges { node { name } } } } } } }"""
    acme = (await gql(query, as_=who))["accounts"]["edges"][0]["node"]
    assert acme["name"] == "Acme" and acme["deals"]["totalCount"] == 3
    assert [e["node"]["name"] for e in acme["deals"]["edges"]] == ["Echo", "Bravo"]
    rest = (await gql(query, {"after": acme["deals"]["pageInfo"]["endCursor"]}, as_=who))["accounts"]["edges"][0][
        "node"
    ]
    assert [e["node"]["name"] for e in rest["deals"]["edges"]] == ["Alpha"]
    assert rest["deals"]["pageInfo"]["hasNextPage"] is False


async def test_last_and_before_are_refused_by_name(gql: GraphQLClient, tenants: TenantFactory) -> None:
    """Lists page forwards only; a backwards request must say so, not page forwards silently or fail internally."""
    who = await _seed(gql, tenants)
    cursor = (await gql(DEALS_PAGE, {"first": 1}, as_=who))["deals"]["pageInfo"]["endCursor"]
    keyset = "query($last: Int, $before: String) { deals(last: $last, before: $before) { edges { cursor } } }"
    sliced = """query($last: Int, $before: String) { accounts(first: 1) { edges { node {
      deals(last: $last, before: $before) { edges { cursor } } } } } }"""
    for document in (keyset, sliced):
        for name, value in (("last", 2), ("before", cursor)):
            body = (await gql.raw(document, {name: value}, as_=who)).json()
            error = body["errors"][0]
            assert error["extensions"]["code"] == "BAD_USER_INPUT", (document, body)
            assert error["message"].startswith(f"'{name}' is not supported"), error


async def test_iterating_a_list_walks_every_page() -> None:
    """`Pages` is an async iterable (strawberry requires one of a connection's resolver): it yields the whole list."""
    pages = LoadedList(list(range(45)), str, "numbers")
    assert [item async for item in pages] == [str(i) for i in range(45)]


_NIL = "00000000-0000-0000-0000-000000000000"
_ACCOUNTS = "query($a: String) { accounts(after: $a) { edges { cursor } } }"
_DEALS = "query($a: String, $o: DealOrder) { deals(after: $a, orderBy: $o) { edges { cursor } } }"
_TRANSCRIPTS = "query($a: String) { transcripts(after: $a) { edges { cursor } } }"
_SEARCH = 'query($a: String) { searchTranscripts(query: "budget", mode: KEYWORD, after: $a) { edges { cursor } } }'
_TEMPLATES = "query($a: String) { promptTemplates(after: $a) { edges { cursor } } }"
_VERSIONS = "query($a: String) { promptTemplates(first: 1) { edges { node { versions(after: $a) { totalCount } } } } }"
_ACCOUNT_DEALS = "query($a: String) { accounts(first: 1) { edges { node { deals(after: $a) { totalCount } } } } }"


async def _refused(gql: GraphQLClient, who: TenantHandle, document: str, variables: dict[str, Any]) -> None:
    body = (await gql.raw(document, variables, as_=who)).json()
    assert body["errors"][0].get("extensions", {}).get("code") == "BAD_USER_INPUT", (document, str(body)[:300])


@pytest.mark.parametrize("depth", [100_000, 3_000], ids=["over-long", "nested-within-length"])
async def test_deeply_nested_cursors_are_refused(gql: GraphQLClient, tenants: TenantFactory, depth: int) -> None:
    """JSON nested past the parser's recursion limit is no cursor (it raised RecursionError, an internal error)."""
    who = await _seed(gql, tenants)
    nested = base64.urlsafe_b64encode(("[" * depth + "]" * depth).encode()).decode()
    for document in (_ACCOUNTS, _DEALS, _TRANSCRIPTS, _SEARCH, _TEMPLATES, _VERSIONS, _ACCOUNT_DEALS):
        await _refused(gql, who, document, {"a": nested})


async def test_offsets_beyond_any_list_are_refused(gql: GraphQLClient, tenants: TenantFactory) -> None:
    """An offset PostgreSQL cannot hold as a bigint failed the statement; no list is that long."""
    who = await _seed(gql, tenants)
    for offset in (10**30, 2**63, 2**63 - 1, 2**31):
        await _refused(gql, who, _SEARCH, {"a": encode_cursor("search", offset)})
        await _refused(gql, who, _ACCOUNT_DEALS, {"a": encode_cursor("account-deals", offset)})


@pytest.mark.parametrize(
    ("document", "order", "cursor"),
    [
        pytest.param(_ACCOUNTS, None, encode_cursor("account-name", "a", f"urn:uuid:{_NIL}"), id="account-urn-id"),
        pytest.param(_ACCOUNTS, None, encode_cursor("account-name", "a", _NIL.replace("-", "") + "-"), id="account-id"),
        pytest.param(_DEALS, "NAME", encode_cursor("deal-name", "a", f"urn:uuid:{_NIL}"), id="deal-name-id"),
        pytest.param(
            _DEALS, "CREATED_AT", encode_cursor("deal-created_at", "2026-01-01 00:00:00+23:59", _NIL), id="created"
        ),
        pytest.param(
            _DEALS, "UPDATED_AT", encode_cursor("deal-updated_at", "2026-01-01 00:00:00-14:60", _NIL), id="updated"
        ),
        pytest.param(
            _TRANSCRIPTS, None, encode_cursor("transcript-recent", "2026-01-01 00:00:00+16", _NIL), id="transcript"
        ),
        pytest.param(_DEALS, "AMOUNT", encode_cursor("deal-amount", "1." + "9" * 20_000, _NIL), id="amount-digits"),
        pytest.param(_DEALS, "AMOUNT", encode_cursor("deal-amount", "999999999999.999", _NIL), id="amount-rounded"),
        pytest.param(
            _DEALS, "CLOSE_DATE", encode_cursor("deal-close_date", "2026-01-01", f"urn:uuid:{_NIL}"), id="close-date"
        ),
        pytest.param(_DEALS, "HEALTH", encode_cursor("deal-health", "32768", _NIL), id="health-rank-range"),
        pytest.param(_DEALS, "HEALTH", encode_cursor("deal-health", "1.5", _NIL), id="health-rank-fraction"),
    ],
)
async def test_positions_postgresql_would_refuse_are_refused(
    gql: GraphQLClient, tenants: TenantFactory, document: str, order: str | None, cursor: str
) -> None:
    """A cursor whose position Python parses but PostgreSQL does not cast (urn: UUIDs, time zone offsets of
    16 hours or more, numbers the column cannot hold, a health rank past a small integer) failed the statement as an internal error; each kind of
    position is covered (a close date is a plain date: only its id can be such a cursor)."""
    who = await _seed(gql, tenants)
    await _refused(gql, who, document, {"a": cursor, **({"o": {"field": order}} if order else {})})
