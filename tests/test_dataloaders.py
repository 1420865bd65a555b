"""N+1 guard: a nested query costs the same number of SQL statements for 3 deals as for 50."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import event
from starlette.applications import Starlette

from dealgraph.agents.standin import RunningStandin
from dealgraph.config import Settings
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings
from tests.test_deal_graph import create_account, create_deal
from tests.test_transcripts_api import _add

NESTED = """
query($first: Int) {
  deals(first: $first) {
    edges { node { name account { name } owner { email }
      transcripts(first: 5) { edges { node { title utterances(first: 2) { edges { node { text } } } } } } } }
  }
}"""


@contextmanager
def counting_statements(app: Starlette) -> Iterator[list[str]]:
    statements: list[str] = []
    engine = app.state.database.engine.sync_engine

    def record(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _tenant_with_deals(gql: GraphQLClient, tenants: TenantFactory, count: int) -> TenantHandle:
    who = await tenants.create()
    accounts = [await create_account(gql, who, f"Account {i}") for i in range(3)]
    for i in range(count):
        deal = await create_deal(gql, who, accounts[i % 3]["id"], name=f"Deal {i}")
        await _add(gql, who, deal["id"], title=f"Call {i}", content=f"Alice: hello {i}\nBob: hi there {i}\n")
    return who


async def test_statement_count_is_independent_of_deal_count(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    small = await _tenant_with_deals(gql, tenants, 3)
    large = await _tenant_with_deals(gql, tenants, 50)
    with counting_statements(app) as small_statements:
        small_data = await gql(NESTED, {"first": 3}, as_=small)
    with counting_statements(app) as large_statements:
        large_data = await gql(NESTED, {"first": 50}, as_=large)
    assert len(small_data["deals"]["edges"]) == 3 and len(large_data["deals"]["edges"]) == 50
    assert all(e["node"]["transcripts"]["edges"] for e in large_data["deals"]["edges"])
    assert len(small_statements) == len(large_statements), (small_statements, large_statements)
    # deals page, accounts, transcripts, utterances: one statement each, plus the tenant scoping of the
    # operation's transaction shared by every loader (the key's principal is cached: no authentication)
    assert len(large_statements) == 5, large_statements


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """No worker in this module: its background polling would be counted as request statements."""
    return make_settings(database_url, standin_server.base_url, worker_slots=0)
