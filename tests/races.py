"""Forcing a race: requests started while the test holds a lock they need, released once every one waits.

Racing mutations are tested this way, not by hoping two requests overlap: each request is seen waiting in
`pg_stat_activity` before the lock is let go, so the race happens on every run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from harness.postgres import connected
from tests.support import GraphQLClient, TenantHandle, wait_for

_LOCK_WAITS = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"


async def payloads_once_blocked(
    database_url: str, requests: list[Awaitable[dict[str, Any]]], end_holder: Awaitable[object]
) -> list[dict[str, Any]]:
    """Start `requests`, wait until each waits for a lock (the holder's, or one another's), end the holder."""
    tasks = [asyncio.ensure_future(request) for request in requests]
    async with connected(database_url) as watcher:

        async def lock_waits() -> int:
            return int(await watcher.fetchval(_LOCK_WAITS))

        async def all_blocked_or_one_done() -> bool:
            return await lock_waits() >= len(tasks) or any(task.done() for task in tasks)

        await wait_for(all_blocked_or_one_done)
        assert not any(task.done() for task in tasks), "a request finished while the lock was held"
        assert await lock_waits() == len(tasks)
    await end_holder
    return list(await asyncio.gather(*tasks))


async def mutation(gql: GraphQLClient, who: TenantHandle, document: str, variables: dict[str, Any]) -> dict[str, Any]:
    """The mutation's payload; a GraphQL error (INTERNAL_SERVER_ERROR) fails the test with the error."""
    body = (await gql.raw(document, variables, as_=who)).json()
    assert not body.get("errors"), body["errors"]
    payload: dict[str, Any] = next(iter(body["data"].values()))
    return payload
