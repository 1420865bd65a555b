"""What the benches share: a PostgreSQL server, fresh databases, and the processes under measurement.

Every process measured runs on its own: `dealgraph serve` and `dealgraph llm-standin` are subprocesses of
the bench, which is only the client, so neither the stand-in nor the bench's own work shares the server's
interpreter, GIL or event loop.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pgserver
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from sqlalchemy.engine import make_url

from dealgraph.db.embedded import start_embedded_postgres
from dealgraph.db.models import Role
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database

EVENT_TIMEOUT_S = 60.0
_START_TIMEOUT_S = 180.0  # a loaded 2-core machine takes minutes to start several interpreters


def configured_database_url() -> tuple[str, str] | None:
    """(URL, the variable it came from), if the environment names a PostgreSQL server."""
    for variable in ("TEST_DATABASE_URL", "DATABASE_URL"):
        if url := os.environ.get(variable):
            return url, variable
    return None


LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


_DATABASE_HELP = "auto: TEST_DATABASE_URL / DATABASE_URL when set, else embedded; local: 127.0.0.1:5432; embedded"


def run_on_a_server(
    parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace, str, str], Coroutine[Any, Any, None]]
) -> None:
    """Every bench's `main`: adds `--database`, parses the arguments and runs `run(args, server URL, its origin)`."""
    parser.add_argument("--database", choices=["auto", "local", "embedded"], default="auto", help=_DATABASE_HELP)
    args = parser.parse_args()
    with postgres_server(args.database) as (server_url, source):
        asyncio.run(run(args, server_url, source))


@contextmanager
def postgres_server(choice: str = "auto") -> Iterator[tuple[str, str]]:
    """(URL of a maintenance database, where the server comes from); an embedded one is stopped at the end.

    `auto`: TEST_DATABASE_URL / DATABASE_URL when set, else embedded; `local`: 127.0.0.1:5432; `embedded`."""
    if choice == "local":
        yield LOCAL_SERVER, "local server 127.0.0.1:5432"
        return
    configured = configured_database_url() if choice == "auto" else None
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="dealgraph-bench-pg-") as data_dir:
        path = Path(data_dir)
        url = start_embedded_postgres(path, database="postgres")
        try:
            yield url, "embedded pgserver in a temporary directory"
        finally:
            pgserver.get_server(path).cleanup()


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    version: str


@asynccontextmanager
async def fresh_database(server_url: str) -> AsyncIterator[BenchDatabase]:
    """A new, empty database on the server, dropped at the end."""
    name = f"dealgraph_bench_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        version = await admin.fetchval("SHOW server_version")
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield BenchDatabase(make_url(server_url).set(database=name).render_as_string(hide_password=False), version)
        finally:
            await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Process:
    """A `dealgraph` subprocess serving HTTP on `base_url`."""

    base_url: str
    popen: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.popen.terminate()
        try:
            self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()


async def _wait_until_serving(process: Process, path: str) -> None:
    deadline = time.monotonic() + _START_TIMEOUT_S
    async with httpx.AsyncClient(base_url=process.base_url, trust_env=False) as http:
        while True:
            if process.popen.poll() is not None:
                raise RuntimeError(f"{process.popen.args!r} exited with {process.popen.returncode}")
            try:
                if (await http.get(path)).status_code < 500:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{process.popen.args!r} did not start serving within {_START_TIMEOUT_S:g} s")
            await asyncio.sleep(0.1)


@asynccontextmanager
async def dealgraph_process(args: list[str], env: dict[str, str], ready_path: str) -> AsyncIterator[Process]:
    port = free_port()
    command = [sys.executable, "-m", "dealgraph.cli", *args, "--port", str(port)]
    popen = subprocess.Popen(command, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    process = Process(f"http://127.0.0.1:{port}", popen)
    try:
        await _wait_until_serving(process, ready_path)
        yield process
    finally:
        process.stop()


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
    database_url: str, standin_url: str, settings: dict[str, str] | None = None, *, workers: int = 1
) -> AsyncIterator[Process]:
    """`dealgraph serve --api-processes N` against the database, its agents calling the stand-in process (with N > 1
    the API runs in N processes and the worker pool in one more, all below the `serve` process)."""
    env = _server_env(database_url, standin_url, settings)
    async with dealgraph_process(["serve", "--api-processes", str(workers)], env, "/healthz") as process:
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
    env = {**os.environ, **_server_env(database_url, standin_url, settings), "DEALGRAPH_LOG_LEVEL": "INFO"}
    started: list[tuple[subprocess.Popen[bytes], Any]] = []
    try:
        for _ in range(count):
            log = tempfile.TemporaryFile()  # noqa: SIM115  # closed below
            popen = subprocess.Popen(
                [sys.executable, "-m", "dealgraph.cli", "analysis-pool"], env=env, stdout=log, stderr=log
            )
            started.append((popen, log))
        deadline = time.monotonic() + _START_TIMEOUT_S
        for popen, log in started:
            while True:
                log.seek(0)
                if b"started with" in log.read():
                    break
                if popen.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"a `dealgraph worker` did not start (exit code {popen.poll()})")
                await asyncio.sleep(0.1)
        yield [popen for popen, _ in started]
    finally:
        for popen, log in started:
            popen.terminate()
            try:
                popen.wait(15)
            except subprocess.TimeoutExpired:
                popen.kill()
            log.close()


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
