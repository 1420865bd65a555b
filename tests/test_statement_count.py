"""Statements and round trips per request, pinned: what the deal-graph and `viewer` queries and a mutation cost in PostgreSQL.

Counted on the wire (harness/pg_statements.py: a proxy between the app and PostgreSQL), so BEGIN,
COMMIT and SQLAlchemy's pre-ping are counted too, whichever layer issues them. Statements and round
trips differ where one message carries several statements. The figures document today's request
path; work that lowers them must lower these numbers with it, and nothing can raise them unnoticed.
`bench/read_throughput.py` prints the same split under load.
"""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from harness.pg_statements import Capture, CountingProxy, Kind, by_kind
from harness.read_dataset import DatasetSize
from harness.read_queries import (
    BOARD_DEALS,
    DEALGRAPH_DEAL_BOARD,
    DEALGRAPH_DEAL_GRAPH,
    DEALGRAPH_DEAL_GRAPH_WITH_PEOPLE,
    DEALGRAPH_TRIVIAL,
    DEALS,
    TRANSCRIPTS_PER_DEAL,
    DealGraphShape,
)
from tests.support import GraphQLClient, TenantFactory, TenantHandle, seed_reads, settings_through

SMALL = DatasetSize(accounts=5, deals=30, transcripts=90)


@pytest.fixture(scope="module")
def settings(counting_proxy: CountingProxy, standin_server: RunningStandin) -> Settings:
    return settings_through(counting_proxy, standin_server.base_url)


@pytest.fixture(scope="module")
async def seeded(app: Starlette, tenants: TenantFactory) -> TenantHandle:
    who = await tenants.create()
    await seed_reads(app.state.database, who.tenant_id, SMALL)
    return who


async def statements_of(
    gql: GraphQLClient, counting_proxy: CountingProxy, who: TenantHandle, query: str
) -> tuple[dict, Capture]:
    """A warm run's statements: the first runs open pooled connections and introspect types, one-off costs."""
    for _ in range(3):
        await gql(query, as_=who)
    with counting_proxy.log.window() as capture:
        data = await gql(query, as_=who)
    return data, capture


async def test_deal_graph_query_statement_count(
    gql: GraphQLClient, counting_proxy: CountingProxy, seeded: TenantHandle
) -> None:
    data, capture = await statements_of(gql, counting_proxy, seeded, DEALGRAPH_DEAL_GRAPH)
    shape = DealGraphShape.of_dealgraph(data)
    assert (len(shape.deals), shape.accounts, shape.transcripts) == (DEALS, DEALS, DEALS * TRANSCRIPTS_PER_DEAL)
    # Today: the key's principal is cached (DEALGRAPH_AUTH_CACHE_S) and the query is a compiled read
    # (dealgraph/schema/compiled_reads/): one statement, no transaction, on a read-pool connection already
    # scoped to this tenant by the warm-up requests.
    assert capture.statements[0].startswith("SELECT ARRAY(SELECT ROW(") and len(capture.statements) == 1
    assert by_kind(capture.statements) == {Kind.DATA: 1}
    assert capture.round_trips == 1


async def test_resolved_deal_graph_query_statement_count(
    gql: GraphQLClient, counting_proxy: CountingProxy, seeded: TenantHandle
) -> None:
    """The same page through the resolvers (a filter is theirs): one transaction shared by the deals page,
    the accounts loader and the transcripts loader: BEGIN READ ONLY and the scope statement in one message,
    the 3 data statements, COMMIT."""
    filtered = DEALGRAPH_DEAL_GRAPH.replace("orderBy:", 'filter: {text: ""}, orderBy:')
    data, capture = await statements_of(gql, counting_proxy, seeded, filtered)
    shape = DealGraphShape.of_dealgraph(data)
    assert (len(shape.deals), shape.accounts, shape.transcripts) == (DEALS, DEALS, DEALS * TRANSCRIPTS_PER_DEAL)
    statements = capture.statements
    assert by_kind(statements) == {Kind.DATA: 3, Kind.SCOPE: 1, Kind.TRANSACTION: 2}, statements
    assert statements[:2] == ["BEGIN READ ONLY", statements[1]] and statements[-1] == "COMMIT", statements
    assert len(statements) == 6
    assert capture.round_trips == 3 + 2  # the data, plus (BEGIN; scope) and COMMIT


async def test_viewer_query_statement_count(
    gql: GraphQLClient, counting_proxy: CountingProxy, seeded: TenantHandle
) -> None:
    data, capture = await statements_of(gql, counting_proxy, seeded, DEALGRAPH_TRIVIAL)
    assert data == {"viewer": {"role": "ADMIN"}}
    # Today: none. The principal is cached and the role comes with it; the viewer's tenant and user are
    # read only when asked for, so no transaction is opened.
    assert capture.statements == []
    assert capture.round_trips == 0


async def test_mutation_statement_count(
    gql: GraphQLClient, counting_proxy: CountingProxy, seeded: TenantHandle
) -> None:
    """A write transaction: BEGIN and the scope statement in one message, the INSERT, COMMIT."""
    create = 'mutation { createAccount(input: {name: "Pinned"}) { account { id name } errors { message } } }'
    data, capture = await statements_of(gql, counting_proxy, seeded, create)
    assert data["createAccount"]["account"]["name"] == "Pinned"
    statements = capture.statements
    assert by_kind(statements) == {Kind.DATA: 1, Kind.SCOPE: 1, Kind.TRANSACTION: 2}, statements
    assert statements[0] == "BEGIN" and statements[2].startswith("INSERT INTO accounts"), statements
    assert statements[-1] == "COMMIT", statements
    assert capture.round_trips == 3  # (BEGIN; scope), the INSERT, COMMIT


async def test_deal_graph_with_people_and_metrics_statement_count(
    gql: GraphQLClient, counting_proxy: CountingProxy, seeded: TenantHandle
) -> None:
    """The deal page with everyone on each deal's calls, each call's metrics and each deal's conversation roll-up:
    the resolved deal graph's statements plus two, one for all deals' people (with the stakeholder agent's views)
    and one for all deals' roll-ups with their calls' metrics, however many deals and calls the page holds."""
    data, capture = await statements_of(gql, counting_proxy, seeded, DEALGRAPH_DEAL_GRAPH_WITH_PEOPLE)
    shape = DealGraphShape.of_dealgraph(data)
    assert (len(shape.deals), shape.transcripts) == (DEALS, DEALS * TRANSCRIPTS_PER_DEAL)
    statements = capture.statements
    assert by_kind(statements) == {Kind.DATA: 3 + 2, Kind.SCOPE: 1, Kind.TRANSACTION: 2}, statements
    assert len(statements) == 6 + 2


async def test_deal_board_statement_count(
    app: Starlette, gql: GraphQLClient, counting_proxy: CountingProxy, tenants: TenantFactory
) -> None:
    """The deal board: 50 deals, worst health first, each with its warnings, next step and qualification score.
    A compiled read, as the deal graph: one statement reads the page with each deal's stored health (warnings and
    next step included) and its MEDDPICC results (the score)."""
    who = await tenants.create()
    await seed_reads(app.state.database, who.tenant_id, DatasetSize(accounts=5, deals=60, transcripts=60))
    data, capture = await statements_of(gql, counting_proxy, who, DEALGRAPH_DEAL_BOARD)
    nodes = [edge["node"] for edge in data["deals"]["edges"]]
    assert len(nodes) == BOARD_DEALS
    ranks = [["ON_TRACK", "AT_RISK", "OFF_TRACK"].index(node["health"]["status"]) for node in nodes]
    assert ranks == sorted(ranks, reverse=True) and ranks[0] == 2
    assert all(node["health"]["nextStep"] and node["qualification"]["score"] == 0 for node in nodes)
    assert any(node["health"]["warnings"] for node in nodes)
    assert capture.statements[0].startswith("SELECT ARRAY(SELECT ROW(") and len(capture.statements) == 1
    assert by_kind(capture.statements) == {Kind.DATA: 1}
    assert capture.round_trips == 1
