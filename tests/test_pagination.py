"""Cursor pagination edges, deal filters and ordering."""

from __future__ import annotations

from typing import Any

from dealgraph.schema.connections import LoadedList
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
