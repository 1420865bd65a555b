"""Stopping `dealgraph serve`: new connections are refused at once, and the drain of what is under way ends
by DEALGRAPH_SHUTDOWN_TIMEOUT_S however slow a client is, with the process's claimed agent runs handed back."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun, RunStatus
from dealgraph.standin import RunningStandin
from harness.processes import DealgraphProcess
from tests.analysis_support import START, transcript_for_analysis
from tests.processes import process_env, serving
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    TenantHandle,
    make_settings,
    server_client,
    wait_for,
)

pytestmark = pytest.mark.processes

EXIT_MARGIN_S = 30.0
"""Beyond the drain deadline: the lifespan's shutdown and interpreter exit, on a loaded two-core machine."""


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """The in-process app only seeds rows: a pool of its own would claim the run the served process must hold."""
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)


def drain_env(database_url: str, standin_url: str, shutdown_timeout_s: float, **settings: str) -> dict[str, str]:
    """A body may take ten minutes to arrive, so only the drain deadline can end a slow request's drain."""
    return process_env(
        database_url,
        standin_url,
        shutdown_timeout_s=str(shutdown_timeout_s),
        request_body_timeout_s="600",
        **settings,
    )


@asynccontextmanager
async def slow_request(base_url: str, who: TenantHandle) -> AsyncIterator[asyncio.StreamReader]:
    """A connection an API process has accepted (it answered /readyz on it), then an authenticated GraphQL
    request on it whose body never arrives.

    The request asks to continue (`expect: 100-continue`), and the server's "100 Continue" says it has parsed
    the request and is reading the body. Without it, a SIGTERM sent at once could find the connection idle
    between its two requests, and uvicorn closes idle connections as it stops: the request's bytes then
    arrived at a closed socket, and the client read a reset instead of the answer under test."""
    url = httpx.URL(base_url)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    try:
        writer.write(f"GET /readyz HTTP/1.1\r\nhost: {url.host}\r\n\r\n".encode())
        head = await reader.readuntil(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200"), head
        length = re.search(rb"content-length: (\d+)", head, re.IGNORECASE)
        assert length, head
        await reader.readexactly(int(length[1]))
        headers = "".join(f"{name}: {value}\r\n" for name, value in who.headers.items())
        writer.write(
            f"POST /graphql HTTP/1.1\r\nhost: {url.host}\r\n{headers}"
            "content-type: application/json\r\ncontent-length: 1000\r\nexpect: 100-continue\r\n\r\n".encode()
        )
        interim = await reader.readuntil(b"\r\n\r\n")
        assert interim.startswith(b"HTTP/1.1 100 Continue"), interim
        yield reader
    finally:
        writer.close()


async def exits_within(process: DealgraphProcess, timeout_s: float) -> float:
    """Seconds from now until the process exits; fails with its output if it is still up after `timeout_s`."""
    began = time.monotonic()
    try:
        await asyncio.to_thread(process.popen.wait, timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still draining {timeout_s:g} s after SIGTERM:\n{process.output()}")
    return time.monotonic() - began


async def refuses_connections(base_url: str) -> bool:
    url = httpx.URL(base_url)
    try:
        _, writer = await asyncio.open_connection(url.host, url.port)
    except ConnectionRefusedError:
        return True
    writer.close()
    return False


async def test_a_slow_request_holds_the_drain_only_until_the_deadline_and_claimed_runs_go_back(
    app: Starlette,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    database_url: str,
    standin_server: RunningStandin,
) -> None:
    await standin.behave("action_items", held=True)  # the run stays claimed until the process stops
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    env = drain_env(database_url, standin_server.base_url, 3, analysis_slots="1", lease_s="60")
    with serving(env) as (base_url, process):
        async with server_client(base_url, timeout=30) as client:
            variables = {"t": ids["transcript"], "agents": ["ACTION_ITEMS"]}
            started = await client.post("/graphql", json={"query": START, "variables": variables}, headers=who.headers)
            assert started.status_code == 200, started.text

        async def claimed() -> AgentRun | None:
            async with app.state.database.owner_session() as session:
                return await session.scalar(
                    select(AgentRun).where(AgentRun.tenant_id == who.tenant_id, AgentRun.status == RunStatus.RUNNING)
                )

        await wait_for(claimed, timeout=30)
        async with slow_request(base_url, who) as cut:
            process.popen.send_signal(signal.SIGTERM)
            await exits_within(process, 3 + EXIT_MARGIN_S)
            async with asyncio.timeout(5):
                answer = await cut.read()
        output = process.output()
    assert "timeout graceful shutdown exceeded" in output, output  # the deadline, not the client, ended it
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"retry-after: 1" in head.lower(), answer
    assert json.loads(body)["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE", answer
    assert "Exception in ASGI application" not in output, output
    assert "handed 1 unfinished runs back to the queue" in output, output
    async with app.state.database.owner_session() as session:
        run = await session.scalar(select(AgentRun).where(AgentRun.tenant_id == who.tenant_id))
    assert run is not None and (run.status, run.worker_id) == (RunStatus.QUEUED, None)


async def test_stopping_api_processes_refuse_new_connections_at_once(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    """With several API processes the supervisor holds the listening socket too: it closes it on SIGTERM
    instead of leaving new connections in a backlog nobody reads until the drain is over."""
    who = await tenants.create()
    drain_s = 12
    env = drain_env(database_url, standin_server.base_url, drain_s, analysis_slots="0")
    with serving(env, "--api-processes", "2") as (base_url, process):
        async with slow_request(base_url, who):  # keeps one API process draining
            process.popen.send_signal(signal.SIGTERM)
            began = time.monotonic()
            await wait_for(lambda: refuses_connections(base_url), timeout=drain_s / 2)
            assert process.popen.poll() is None, "refused only once serve had exited, not while draining"
            await exits_within(process, drain_s + EXIT_MARGIN_S - (time.monotonic() - began))
        assert "timeout graceful shutdown exceeded" in process.output(), process.output()
