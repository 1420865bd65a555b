"""Forcing a race: requests started while the test holds a lock they need, released once every one waits.

Racing mutations are tested this way, not by hoping two requests overlap: each request is seen waiting in
`pg_stat_activity` before the lock is let go, so the race happens on every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from harness.postgres import connected
from tests.support import GraphQLClient, TenantHandle


async def payloads_once_blocked(
    database_url: str, requests: list[Awaitable[dict[str, Any]]], end_holder: Awaitable[object]
) -> list[dict[str, Any]]:
    """Start `requests`, wait until each waits for a lock (the holder's, or one another's), end the holder."""
    tasks = [asyncio.ensure_future(request) for request in requests]
    async with connected(database_url) as watcher:
        for _ in range(1000):
            waiting = await watcher.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if waiting >= len(tasks) or any(task.done() for task in tasks):
                break
            await asyncio.sleep(0.01)
    assert not any(task.done() for task in tasks), "a request finished while the lock was held"
    assert waiting == len(tasks)
    await end_holder
    return list(await asyncio.gather(*tasks))


async def mutation(gql: GraphQLClient, who: TenantHandle, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The mutation's payload; a GraphQL error (INTERNAL_SERVER_ERROR) fails the test with the error."""
    body = (await gql.raw(document, variables, as_=who)).json()
    assert not body.get("errors"), body["errors"]
    payload: dict[str, Any] = next(iter(body["data"].values()))
    return payload
