"""Statements per request, pinned: what the deal-graph and `viewer` queries cost in PostgreSQL round trips.

Counted on the wire (bench/pg_statements.py: a proxy between the app and PostgreSQL), so BEGIN,
COMMIT and SQLAlchemy's pre-ping are counted too, whichever layer issues them. The figures document
today's request path; work that lowers them must
lower these numbers with it, and nothing can raise them unnoticed. `bench/read_throughput.py` prints
the same split under load.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from bench.pg_statements import CountingProxy, Kind, by_kind
from bench.read_dataset import DatasetSize, seed
from bench.read_queries import DEALGRAPH_DEAL_GRAPH, DEALGRAPH_TRIVIAL, DEALS, TRANSCRIPTS_PER_DEAL, DealGraphShape
from dealgraph.agents.standin import RunningStandin
from dealgraph.config import Settings
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings

SMALL = DatasetSize(accounts=5, deals=30, transcripts=90)


@pytest.fixture(scope="module")
async def proxy(database_url: str) -> AsyncIterator[CountingProxy]:
    async with CountingProxy(database_url) as running:
        yield running


@pytest.fixture(scope="module")
def settings(proxy: CountingProxy, standin_server: RunningStandin) -> Settings:
    """The app reaches PostgreSQL only through the proxy; no worker, whose polling would be counted."""
    return make_settings(proxy.url, standin_server.base_url, worker_slots=0)


@pytest.fixture(scope="module")
async def seeded(app: Starlette, tenants: TenantFactory) -> TenantHandle:
    who = await tenants.create()
    async with app.state.database.owner_session() as session:
        raw = await (await session.connection()).get_raw_connection()
        await seed(raw.driver_connection, who.tenant_id, SMALL)
    return who


async def statements_of(gql: GraphQLClient, proxy: CountingProxy, who: TenantHandle, query: str) -> tuple[dict, list[str]]:
    """A warm run's statements: the first runs open pooled connections and introspect types, one-off costs."""
    for _ in range(3):
        await gql(query, as_=who)
    with proxy.log.window() as statements:
        data = await gql(query, as_=who)
    return data, statements


async def test_deal_graph_query_statement_count(gql: GraphQLClient, proxy: CountingProxy, seeded: TenantHandle) -> None:
    data, statements = await statements_of(gql, proxy, seeded, DEALGRAPH_DEAL_GRAPH)
    shape = DealGraphShape.of_dealgraph(data)
    assert (len(shape.deals), shape.accounts, shape.transcripts) == (DEALS, DEALS, DEALS * TRANSCRIPTS_PER_DEAL)
    # Today: the key's principal is cached (DEALGRAPH_AUTH_CACHE_S) and the operation has one
    # transaction (BEGIN set_config … COMMIT, no pre-ping) shared by the deals page, the accounts loader
    # and the transcripts loader: 3 data statements of 6.
    assert by_kind(statements) == {Kind.DATA: 3, Kind.SCOPE: 1, Kind.TRANSACTION: 2}, statements
    assert len(statements) == 6


async def test_viewer_query_statement_count(gql: GraphQLClient, proxy: CountingProxy, seeded: TenantHandle) -> None:
    data, statements = await statements_of(gql, proxy, seeded, DEALGRAPH_TRIVIAL)
    assert data == {"viewer": {"role": "ADMIN"}}
    # Today: none. The principal is cached and the role comes with it; the viewer's tenant and user are
    # read only when asked for, so no transaction is opened.
    assert statements == []
