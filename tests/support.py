"""Helpers shared by the tests: tenants with API keys, and a small GraphQL-over-HTTP client."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.types import ASGIApp

from dealgraph.config import Settings
from dealgraph.db.models import Role, Tenant
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database


@dataclass(frozen=True)
class TenantHandle:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class TenantFactory:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, role: Role = Role.ADMIN, slug: str | None = None) -> TenantHandle:
        slug = slug or f"t-{uuid.uuid4().hex[:10]}"
        async with self.database.owner_session() as session:
            tenant = await tenancy.create_tenant(session, slug.title(), slug)
            user = await tenancy.ensure_user(session, tenant, f"{role.value}@{slug}.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.id, user.id, issued.key)

    async def add_user(self, tenant: TenantHandle, role: Role) -> TenantHandle:
        async with self.database.owner_session() as session:
            row = await session.get(Tenant, tenant.tenant_id)
            assert row is not None
            user = await tenancy.ensure_user(session, row, f"{role.value}-{uuid.uuid4().hex[:6]}@x.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.tenant_id, user.id, issued.key)


    async def revoke(self, handle: TenantHandle) -> None:
        async with self.database.owner_session() as session:
            assert await tenancy.revoke_api_key(session, handle.api_key[:11]) == 1


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle | None = None) -> httpx.Response:
        headers = as_.headers if as_ else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle) -> dict[str, Any]:
        """Run an operation that must succeed without GraphQL errors; returns `data`."""
        response = await self.raw(query, variables, as_=as_)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]


class Subscription:
    """One graphql-transport-ws operation on an open WebSocket."""

    def __init__(self, ws: AsyncWebSocketSession, operation_id: str) -> None:
        self.ws = ws
        self.id = operation_id

    async def next(self, timeout: float = 10.0) -> dict[str, Any] | None:
        """The next `next` payload's data; None once the server completes the operation."""
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), timeout)
            if message.get("id") != self.id:
                continue
            if message["type"] == "complete":
                return None
            if message["type"] == "error":
                raise AssertionError(f"subscription error: {message['payload']}")
            assert message["type"] == "next", message
            payload = message["payload"]
            assert not payload.get("errors"), payload
            return payload["data"]

    async def collect(self, timeout: float = 15.0) -> list[dict[str, Any]]:
        events = []
        while (data := await self.next(timeout)) is not None:
            events.append(data)
        return events


_operation_ids = itertools.count(1)


@asynccontextmanager
async def open_websocket(app: ASGIApp, payload: dict[str, Any]) -> AsyncIterator[AsyncWebSocketSession]:
    """A graphql-transport-ws connection to the app, after sending `connection_init` with `payload`.

    The client lives inside the caller's task: the WebSocket transport's task group must be
    entered and exited in one task.
    """
    transport = ASGIWebSocketTransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://dealgraph.test") as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json({"type": "connection_init", "payload": payload})
            yield ws


@asynccontextmanager
async def websocket(app: ASGIApp, api_key: str) -> AsyncIterator[AsyncWebSocketSession]:
    """An acknowledged (authenticated) graphql-transport-ws connection."""
    async with open_websocket(app, {"authorization": f"Bearer {api_key}"}) as ws:
        ack = await asyncio.wait_for(ws.receive_json(), 5)
        assert ack["type"] == "connection_ack", ack
        yield ws


async def subscribe(ws: AsyncWebSocketSession, query: str, variables: dict[str, Any]) -> Subscription:
    operation_id = str(next(_operation_ids))
    await ws.send_json({"id": operation_id, "type": "subscribe", "payload": {"query": query, "variables": variables}})
    return Subscription(ws, operation_id)


class StandinControl:
    """Scripts the local Messages API stand-in per agent (latency, failures) through its control API."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        async with httpx.AsyncClient(base_url=self.base_url) as client:
            response = await client.request(method, path, json=json)
            response.raise_for_status()
            return response.json() if response.content else None

    async def behave(self, agent: str, **behaviour: Any) -> None:
        await self._request("PUT", f"/_standin/agents/{agent}", behaviour)

    async def release(self, agent: str) -> None:
        """Let a `held` agent's answer finish."""
        await self._request("POST", f"/_standin/agents/{agent}/release")

    async def reset(self) -> None:
        await self._request("POST", "/_standin/reset")

    async def thinking_blocks_received(self, agent: str) -> int:
        """Thinking blocks the agent's requests sent back (verified by signature, or refused)."""
        stats = await self._request("GET", "/_standin/stats")
        received: int = stats["agents"].get(agent, {}).get("thinking_blocks_received", 0)
        return received

    async def statuses(self, agent: str) -> list[int]:
        stats = await self._request("GET", "/_standin/stats")
        return stats["agents"].get(agent, {}).get("statuses", [])


def make_settings(database_url: str, standin_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": database_url,
        "graphiql": True,
        "max_transcript_bytes": 64 * 1024,
        "anthropic_api_key": "test-key",
        "anthropic_base_url": standin_url,
        "worker_slots": 8,
        "llm_concurrency": 8,
        "lease_s": 2.0,
        "poll_interval_s": 0.2,
        "llm_max_retries": 2,
        "progress_interval_s": 0.05,
        "embedding_worker": False,  # tests drive EmbeddingWorker themselves (tests/test_vector_search.py)
    }
    return Settings(**(values | overrides))  # type: ignore[arg-type]


# ---- revocation under the principal cache (DEALGRAPH_AUTH_CACHE_S)
REFUSAL_DEADLINE_S = 10.0
"""A revoke reaches a process's principal cache with a NOTIFY (milliseconds); generous for a loaded machine."""
VIEWER_ROLE = "{ viewer { role } }"


async def refused_within(client: httpx.AsyncClient, who: TenantHandle, deadline_s: float) -> float:
    """Seconds until `who`'s key gets 401 over HTTP; fails if it is still accepted after `deadline_s`."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    while (response := await client.post("/graphql", json={"query": VIEWER_ROLE}, headers=who.headers)).status_code != 401:
        assert response.status_code == 200, response.text
        assert loop.time() - started < deadline_s, "revoked key still accepted"
        await asyncio.sleep(0.02)
    return loop.time() - started
