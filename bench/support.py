"""What the benches share: the `dealgraph` processes under measurement and the GraphQL calls they are driven with
(servers, databases and processes themselves come from harness/).

Every process measured runs on its own: `dealgraph serve` and `dealgraph llm-standin` are subprocesses of
the bench, which is only the client, so neither the stand-in nor the bench's own work shares the server's
interpreter, GIL or event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws

from dealgraph.db.models import Role
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database
from harness.postgres import postgres_server
from harness.processes import running, serving

EVENT_TIMEOUT_S = 60.0

_DATABASE_HELP = "auto: TEST_DATABASE_URL / DATABASE_URL when set, else embedded; local: 127.0.0.1:5432; embedded"


def run_on_a_server(
    parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace, str, str], Coroutine[Any, Any, None]]
) -> None:
    """Every bench's `main`: adds `--database`, parses the arguments and runs `run(args, server URL, its origin)`."""
    parser.add_argument("--database", choices=["auto", "local", "embedded"], default="auto", help=_DATABASE_HELP)
    args = parser.parse_args()
    with postgres_server(args.database) as (server_url, source):
        asyncio.run(run(args, server_url, source))


@dataclass(frozen=True)
class Process:
    """A `dealgraph` subprocess serving HTTP on `base_url`."""

    base_url: str
    popen: subprocess.Popen[bytes]


@asynccontextmanager
async def dealgraph_process(args: list[str], env: dict[str, str], ready_path: str) -> AsyncIterator[Process]:
    """A `dealgraph` command serving HTTP on a free port, once `ready_path` answers (harness/processes.py)."""
    with serving(args, env, ready_path) as (base_url, process):
        yield Process(base_url, process.popen)


@asynccontextmanager
async def standin_process() -> AsyncIterator[Process]:
    """`dealgraph llm-standin` in its own process; scripted per agent through its control API."""
    async with dealgraph_process(["llm-standin"], {}, "/_standin/stats") as process:
        yield process


async def script_agents(standin: Process, behaviours: dict[str, dict[str, Any]]) -> None:
    async with httpx.AsyncClient(base_url=standin.base_url, trust_env=False) as http:
        (await http.post("/_standin/reset")).raise_for_status()
        for agent, behaviour in behaviours.items():
            (await http.put(f"/_standin/agents/{agent}", json=behaviour)).raise_for_status()


@asynccontextmanager
async def server_process(
    database_url: str, standin_url: str, settings: dict[str, str] | None = None, *, api_processes: int = 1
) -> AsyncIterator[Process]:
    """`dealgraph serve --api-processes N` against the database, its agents calling the stand-in process (with N > 1
    the API runs in N processes and the analysis pool in one more, all below the `serve` process)."""
    env = _server_env(database_url, standin_url, settings)
    async with dealgraph_process(["serve", "--api-processes", str(api_processes)], env, "/healthz") as process:
        yield process


def _server_env(database_url: str, standin_url: str, settings: dict[str, str] | None) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "ANTHROPIC_API_KEY": "bench-key",
        "ANTHROPIC_BASE_URL": standin_url,
        "DEALGRAPH_GRAPHIQL": "false",
        "DEALGRAPH_LOG_LEVEL": "WARNING",
        **{f"DEALGRAPH_{name.upper()}": value for name, value in (settings or {}).items()},
    }


@asynccontextmanager
async def worker_processes(
    count: int, database_url: str, standin_url: str, settings: dict[str, str] | None = None
) -> AsyncIterator[list[subprocess.Popen[bytes]]]:
    """`count` processes of `dealgraph worker` (execution only, no HTTP: how the worker pool scales out),
    each yielded once it has started its pool."""
    env = {**_server_env(database_url, standin_url, settings), "DEALGRAPH_LOG_LEVEL": "INFO"}
    with ExitStack() as stack:
        started = [stack.enter_context(running(["analysis-pool"], env)) for _ in range(count)]
        for process in started:
            process.wait_for_output("started with")
        yield [process.popen for process in started]


async def create_api_key(database_url: str, name: str) -> str:
    database = Database(database_url, app_role="dealgraph_app", pool_size=1)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    try:
        async with database.owner_session() as session:
            tenant = await tenancy.create_tenant(session, name, slug)
            user = await tenancy.ensure_user(session, tenant, f"admin@{slug}.example", Role.ADMIN)
            issued = await tenancy.issue_api_key(session, user, "bench")
    finally:
        await database.dispose()
    return issued.key


async def execute(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a mutation; returns its payload's object, failing loudly on any error."""
    response = await http.post("/graphql", json={"query": query, "variables": variables})
    body = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"GraphQL request failed: {body}")
    (payload,) = body["data"].values()
    if payload.get("errors"):
        raise RuntimeError(f"mutation refused: {payload['errors']}")
    return payload


CREATE_ACCOUNT = """mutation($input: CreateAccountInput!) {
  createAccount(input: $input) { account { id } errors { field message } } }"""
CREATE_DEAL = """mutation($input: CreateDealInput!) {
  createDeal(input: $input) { deal { id } errors { field message } } }"""
ADD_TRANSCRIPT = """mutation($input: AddTranscriptInput!) {
  addTranscript(input: $input) { transcript { id } errors { field message } } }"""
START_ACTION_ITEMS = """mutation($t: ID!) { startAnalysis(transcriptId: $t, agents: [ACTION_ITEMS], force: true) {
  analysis { id } errors { field message } } }"""


async def create_transcript(http: httpx.AsyncClient, content: str) -> tuple[str, str]:
    """(deal id, transcript id) of a call to analyse."""
    account = await execute(http, CREATE_ACCOUNT, {"input": {"name": "Northwind"}})
    deal = await execute(
        http, CREATE_DEAL, {"input": {"accountId": account["account"]["id"], "name": "Northwind platform"}}
    )
    transcript_input = {
        "dealId": deal["deal"]["id"],
        "title": "Discovery call",
        "occurredAt": "2026-11-02T15:00:00Z",
        "content": content,
    }
    transcript = await execute(http, ADD_TRANSCRIPT, {"input": transcript_input})
    return deal["deal"]["id"], transcript["transcript"]["id"]


SUBSCRIBE_ATTEMPTS = 6


def busy(message: dict[str, Any]) -> bool:
    """A refusal the server asks to retry (TOO_MANY_REQUESTS): no free database connection for the tenant or the
    process within DEALGRAPH_DB_POOL_TIMEOUT_S, as happens to the tail of a burst of subscriptions whose
    snapshots queue behind the tenant's DEALGRAPH_TENANT_CONNECTIONS."""
    payload = message.get("payload")
    errors: list[dict[str, Any]] = (payload if message.get("type") == "error" else (payload or {}).get("errors")) or []
    return any(error.get("extensions", {}).get("code") == "TOO_MANY_REQUESTS" for error in errors)


async def backoff(attempt: int) -> None:
    await asyncio.sleep(random.uniform(0.5, 1.5) * 2**attempt)


class Subscription:
    """One graphql-transport-ws operation on an acknowledged socket."""

    def __init__(self, ws: AsyncWebSocketSession, operation_id: str) -> None:
        self._ws = ws
        self._id = operation_id

    async def next(self) -> dict[str, Any]:
        while True:
            message = await self._ws.receive_json(timeout=EVENT_TIMEOUT_S)
            if message.get("id") != self._id:
                continue
            if message["type"] != "next" or message["payload"].get("errors"):
                raise RuntimeError(f"subscription failed: {message}")
            (data,) = message["payload"]["data"].values()
            return dict(data)


@asynccontextmanager
async def subscription(
    http: httpx.AsyncClient, api_key: str, query: str, variables: dict[str, Any]
) -> AsyncIterator[Subscription]:
    ws: AsyncWebSocketSession
    async with aconnect_ws("/graphql", http, subprotocols=["graphql-transport-ws"]) as ws:
        await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {api_key}"}})
        ack = await ws.receive_json(timeout=EVENT_TIMEOUT_S)
        if ack.get("type") != "connection_ack":
            raise RuntimeError(f"WebSocket not acknowledged: {ack}")
        await ws.send_json({"id": "bench", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        yield Subscription(ws, "bench")
