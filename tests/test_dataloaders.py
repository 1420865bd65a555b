"""N+1 guard: a nested query costs the same number of SQL statements for 3 deals as for 50."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from tests.factories import create_account, create_deal, create_transcript
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings, recording_statements

NESTED = """
query($first: Int) {
  deals(first: $first) {
    edges { node { name account { name } owner { email }
      transcripts(first: 5) { edges { node { title utterances(first: 2) { edges { node { text } } } } } } } }
  }
}"""


async def _tenant_with_deals(gql: GraphQLClient, tenants: TenantFactory, count: int) -> TenantHandle:
    who = await tenants.create()
    accounts = [await create_account(gql, who, f"Account {i}") for i in range(3)]
    for i in range(count):
        deal = await create_deal(gql, who, accounts[i % 3]["id"], name=f"Deal {i}")
        await create_transcript(
            gql, who, deal["id"], title=f"Call {i}", content=f"Alice: hello {i}\nBob: hi there {i}\n"
        )
    return who


async def test_statement_count_is_independent_of_deal_count(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    small = await _tenant_with_deals(gql, tenants, 3)
    large = await _tenant_with_deals(gql, tenants, 50)
    with recording_statements(app.state.database) as small_statements:
        small_data = await gql(NESTED, {"first": 3}, as_=small)
    with recording_statements(app.state.database) as large_statements:
        large_data = await gql(NESTED, {"first": 50}, as_=large)
    assert len(small_data["deals"]["edges"]) == 3 and len(large_data["deals"]["edges"]) == 50
    assert all(e["node"]["transcripts"]["edges"] for e in large_data["deals"]["edges"])
    assert len(small_statements) == len(large_statements), (small_statements, large_statements)
    # deals page, accounts, transcripts, utterances: one statement each (the key's principal is cached: no
    # authentication). The operation's transaction, shared by every loader, is begun with its tenant scope
    # on the driver connection, below what SQLAlchemy's events count (tests/test_statement_count.py).
    assert len(large_statements) == 4, large_statements


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """No worker in this module: its background polling would be counted as request statements."""
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)
