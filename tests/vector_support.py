"""What the vector-search tests share: an embedded PostgreSQL (it ships pgvector) in both CI passes,
the labelled sales calls seeded through GraphQL, and a worker driven by hand (no timing in tests)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dealgraph.search.embedding_pool import EmbeddingPool
from harness.postgres import configured_server, embedded_server
from harness.search_corpus import CALLS
from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, TenantHandle


def pgvector_server_url(shared: str) -> Iterator[str]:
    """The session's embedded server, or, when the run targets a configured server (PostgreSQL 15,
    no pgvector), an embedded one of this module's own."""
    if not configured_server():
        yield shared
        return
    with embedded_server(prefix="dealgraph-test-pgvector-", crash_safe=False) as url:
        yield url


async def seed_calls(gql: GraphQLClient, who: TenantHandle, keys: set[str] | None = None) -> dict[str, Any]:
    """The labelled calls (all, or those in `keys`); returns {'deals': {name: id}, 'calls': {key: transcript}}."""
    deals: dict[str, str] = {}
    calls: dict[str, Any] = {}
    for call in CALLS:
        if keys is not None and call.key not in keys:
            continue
        if call.deal not in deals:
            deals[call.deal] = (await create_deal_with_account(gql, who, call.account, name=call.deal))["id"]
        calls[call.key] = await create_transcript(
            gql, who, deals[call.deal], title=call.title, content=call.transcript(), occurredAt=call.occurred_at
        )
    return {"deals": deals, "calls": calls}


async def drain(worker: EmbeddingPool) -> int:
    """Run the worker until the queue has nothing claimable; returns the jobs it handled."""
    handled = 0
    while await worker.run_once():
        handled += 1
    return handled
