"""A server without pgvector: semantic and hybrid search refuse with a readable error, the start-up log
says why, and everything else (keyword search, adding transcripts) works.

On PostgreSQL 15 (the second CI pass) the migration really skipped the vector table; on the embedded
server the table is dropped before the app starts, which is exactly the state the feature checks for.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db import migrate
from dealgraph.server.app import create_app
from harness.postgres import connected
from tests.processes import run_cli
from tests.support import GraphQLClient, TenantFactory, running_app
from tests.vector_support import seed_calls

SEARCH = "query($q: String!, $mode: SearchMode) { searchTranscripts(query: $q, mode: $mode) { totalCount edges { node { matchedBy } } } }"


@pytest.fixture(scope="module")
async def app(settings: Settings, database_url: str) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    await migrate.upgrade(application.state.database.engine, settings.app_role)
    async with connected(database_url) as connection:
        await connection.execute("DROP TABLE IF EXISTS transcript_windows")
    async with application.router.lifespan_context(application):
        yield application


async def test_semantic_and_hybrid_say_pgvector_is_required(
    gql: GraphQLClient, http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"fb1"})
    for mode in ("SEMANTIC", "HYBRID"):
        body = (
            await http.post(
                "/graphql", json={"query": SEARCH, "variables": {"q": "security", "mode": mode}}, headers=who.headers
            )
        ).json()
        error = body["errors"][0]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and "pgvector" in error["message"], body
    keyword = await gql(SEARCH, {"q": "infosec", "mode": "KEYWORD"}, as_=who)
    assert keyword["searchTranscripts"]["totalCount"] == 1
    default = await gql(SEARCH, {"q": "infosec"}, as_=who)  # no mode: keyword here
    assert default == keyword
    status = await gql(
        "query($id: ID!) { transcript(id: $id) { searchStatus } }", {"id": seeded["calls"]["fb1"]["id"]}, as_=who
    )
    assert status["transcript"]["searchStatus"] == "UNAVAILABLE"


async def test_startup_logs_that_semantic_search_needs_pgvector(
    settings: Settings, app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="dealgraph.search.embedding_pool"):
        async with running_app(settings.model_copy(update={"auto_migrate": False})):
            pass
    assert any("need the pgvector extension" in record.getMessage() for record in caplog.records)


@pytest.mark.processes
def test_reembed_says_pgvector_is_required(app: Starlette, database_url: str) -> None:
    refused = run_cli(database_url, "reembed")
    assert refused.returncode == 1 and "pgvector" in refused.stderr
