"""The deal board: `deals` filtered by health and warning, ordered by HEALTH or LAST_ACTIVITY, paged by keyset.
Its statement count is pinned in tests/test_statement_count.py."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from harness.read_dataset import DatasetSize
from tests.support import GraphQLClient, TenantFactory, TenantHandle, seed_reads

SIZE = DatasetSize(accounts=3, deals=24, transcripts=48)
RANK = ["UNKNOWN", "ON_TRACK", "AT_RISK", "OFF_TRACK"]
BOARD = """
query($filter: DealFilter, $order: DealOrder, $after: String) {
  deals(first: 7, after: $after, filter: $filter, orderBy: $order) {
    pageInfo { hasNextPage endCursor }
    edges { node { id name health { status warnings { code } } transcripts(first: 1) { edges { node { occurredAt } } } } }
  }
}"""


@pytest.fixture(scope="module")
async def board(app: Starlette, tenants: TenantFactory) -> TenantHandle:
    who = await tenants.create()
    await seed_reads(app.state.database, who.tenant_id, SIZE)
    return who


async def every_page(gql: GraphQLClient, who: TenantHandle, **variables: Any) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    after = None
    while True:
        page = (await gql(BOARD, {**variables, "after": after}, as_=who))["deals"]
        nodes += [edge["node"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            return nodes
        after = page["pageInfo"]["endCursor"]


async def test_ordered_by_health_worst_first_across_pages(gql: GraphQLClient, board: TenantHandle) -> None:
    nodes = await every_page(gql, board, order={"field": "HEALTH", "direction": "DESC"})
    assert len({node["id"] for node in nodes}) == len(nodes) == SIZE.deals
    ranks = [RANK.index(node["health"]["status"]) for node in nodes]
    assert ranks == sorted(ranks, reverse=True)
    ascending = await every_page(gql, board, order={"field": "HEALTH", "direction": "ASC"})
    assert [RANK.index(node["health"]["status"]) for node in ascending] == sorted(ranks)


async def test_filtered_by_health_and_by_warning(gql: GraphQLClient, board: TenantHandle) -> None:
    off_track = await every_page(gql, board, filter={"health": ["OFF_TRACK"]})
    assert off_track and {node["health"]["status"] for node in off_track} == {"OFF_TRACK"}
    either = await every_page(gql, board, filter={"health": ["OFF_TRACK", "ON_TRACK"]})
    assert len(either) == SIZE.deals
    no_power = await every_page(gql, board, filter={"warning": "NO_POWER"})
    assert no_power and all("NO_POWER" in {w["code"] for w in node["health"]["warnings"]} for node in no_power)
    assert len(no_power) < len(off_track)  # every NO_POWER deal is off track, not every off-track deal lacks power
    assert await every_page(gql, board, filter={"warning": "RED_FLAG"}) == []


async def test_ordered_by_last_activity(gql: GraphQLClient, board: TenantHandle) -> None:
    nodes = await every_page(gql, board, order={"field": "LAST_ACTIVITY", "direction": "DESC"})
    latest = [node["transcripts"]["edges"][0]["node"]["occurredAt"] for node in nodes]
    assert len(nodes) == SIZE.deals and latest == sorted(latest, reverse=True)


async def test_the_board_is_the_tenants_own(gql: GraphQLClient, board: TenantHandle, tenants: TenantFactory) -> None:
    other = await tenants.create()
    assert await every_page(gql, other, filter={"health": ["OFF_TRACK"]}) == []


BOARD_FIELDS = """
  __typename id name stage amount account { name }
  health {
    __typename status computedAt pending
    warnings { __typename code severity message since evidence { quotes { quote utteranceIndex speaker start verified } } }
    nextStep { description dueDate owner evidence { quote speaker verified } }
  }
  qualification { __typename analysedCalls score }
"""


@pytest.mark.parametrize("field", ["HEALTH", "LAST_ACTIVITY"])
async def test_the_compiled_read_answers_as_the_resolvers_do(
    gql: GraphQLClient, board: TenantHandle, field: str
) -> None:
    """The board is a compiled read (one statement, pinned in test_statement_count); a filter sends the same
    page through the resolvers: the same deals in the same order, every board field alike."""
    order = f"orderBy: {{field: {field}, direction: DESC}}"
    compiled = f"{{ deals(first: 50, {order}) {{ edges {{ node {{ {BOARD_FIELDS} }} }} }} }}"
    resolved = compiled.replace("orderBy:", 'filter: {text: ""}, orderBy:')
    pages = [[edge["node"] for edge in (await gql(q, as_=board))["deals"]["edges"]] for q in (compiled, resolved)]
    assert pages[0] == pages[1] and len(pages[0]) == SIZE.deals
    healths = [node["health"] for node in pages[0]]
    assert {health["status"] for health in healths} >= {"OFF_TRACK", "ON_TRACK"}
    assert any(health["nextStep"] for health in healths)
    assert any(w["evidence"]["quotes"] for health in healths for w in health["warnings"])


async def test_a_recomputed_health_shows_at_once(gql: GraphQLClient, app: Starlette, tenants: TenantFactory) -> None:
    """The compiled read remembers what it made of a stored health row by the row's whole content, never by the
    deal: the next read after a change shows the change."""
    who = await tenants.create()
    await seed_reads(app.state.database, who.tenant_id, DatasetSize(accounts=1, deals=3, transcripts=3))
    query = "{ deals(first: 5, orderBy: {field: HEALTH, direction: DESC}) { edges { node { health { status } } } } }"

    async def statuses() -> list[str]:
        return [edge["node"]["health"]["status"] for edge in (await gql(query, as_=who))["deals"]["edges"]]

    assert sorted(await statuses()) == ["OFF_TRACK", "OFF_TRACK", "ON_TRACK"]
    async with app.state.database.owner_session() as session:
        await session.execute(
            text("UPDATE deal_health SET health = 'AT_RISK', health_rank = 2 WHERE tenant_id = :t"),
            {"t": who.tenant_id},
        )
    assert await statuses() == ["AT_RISK"] * 3
