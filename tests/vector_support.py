"""What the vector-search tests share: an embedded PostgreSQL (it ships pgvector) in both CI passes,
the labelled sales calls seeded through GraphQL, and a worker driven by hand (no timing in tests)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.search_corpus import CALLS
from dealgraph.db.embedded import start_embedded_postgres
from dealgraph.search.embedding_pool import EmbeddingPool
from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, TenantHandle


def pgvector_server_url(shared: str) -> Iterator[str]:
    """The session's embedded server, or, when the run targets a configured server (PostgreSQL 15,
    no pgvector), an embedded one of this module's own."""
    if not (os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")):
        yield shared
        return
    with tempfile.TemporaryDirectory(prefix="dealgraph-test-pgvector-") as data_dir:
        yield start_embedded_postgres(Path(data_dir), database="postgres")


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
