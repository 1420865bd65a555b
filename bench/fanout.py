"""Fan-out of one analysis' live events to N WebSocket subscribers of one `dealgraph serve` process.

`dealgraph serve` and `dealgraph llm-standin` run as separate processes (bench/support.py); this
process is only the client, holding N real WebSockets (graphql-transport-ws) over TCP. One
ACTION_ITEMS analysis is started and its answer held by the stand-in until every subscriber has its
snapshot (AgentStarted); then the answer is released and the bench times, per subscriber, when the
result (AgentSucceeded) and the end (AnalysisFinished) arrive, against the run's and the analysis'
`finished_at` as written by PostgreSQL (same machine, same clock). It also counts events delivered
against expected, subscription errors, and the server's RSS before, with, and after the subscribers.

Run from the repository root: `.venv/bin/python -m bench.fanout [--subscribers N] [--rounds R]`.
Uses TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import platform
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
from httpx_ws import AsyncWebSocketSession, aconnect_ws
from strawberry import relay

from bench.proc_cpu import rss_mb, tree_cpu
from bench.support import (
    EVENT_TIMEOUT_S,
    START_ACTION_ITEMS,
    SUBSCRIBE_ATTEMPTS,
    Process,
    backoff,
    busy,
    create_api_key,
    create_transcript,
    execute,
    run_on_a_server,
    script_agents,
    server_process,
    standin_process,
)
from harness.postgres import asyncpg_dsn, fresh_database
from harness.transcripts import DISCOVERY_CALL

AGENT = "action_items"
EVENTS = """subscription($id: ID!) { analysisEvents(analysisId: $id) {
  __typename
  ... on AgentEvent { agent }
  ... on AgentSucceeded { result { ... on ActionItemsResult { items { description owner } } } }
  ... on AnalysisFinished { status analysis { totals { succeeded } } }
} }"""
EXPECTED = ("AgentStarted", "AgentSucceeded", "AnalysisFinished")
_CONNECTING_AT_ONCE = 10


@contextmanager
def client_collector_off() -> Iterator[None]:
    """The bench's own garbage collector off while events are timed: one full collection of this process,
    which holds every subscriber's socket, took a few hundred ms and showed up as the server's delivery
    p99 (round 1: p99 386-425 ms with it, 151 ms without; round 2 about the same either way)."""
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@dataclass
class Subscriber:
    state_events: list[str] = field(default_factory=list)
    received: dict[str, float] = field(default_factory=dict)
    """Wall-clock time (time.time()) each state event arrived."""
    error: str | None = None
    retries: int = 0
    """Subscribes refused with TOO_MANY_REQUESTS and retried."""


async def subscribe_one(
    http: httpx.AsyncClient,
    api_key: str,
    analysis_id: str,
    me: Subscriber,
    connecting: asyncio.Semaphore,
    ready: asyncio.Queue[None],
    leave: asyncio.Event,
) -> None:
    try:
        async with AsyncExitStack() as connection:
            async with connecting:  # held until the snapshot: few unacknowledged sockets per address, and
                # every snapshot is a read through the tenant's few connections
                ws: AsyncWebSocketSession = await connection.enter_async_context(
                    aconnect_ws(
                        "/graphql",
                        http,
                        subprotocols=["graphql-transport-ws"],
                        # no client keepalive: one loop holding 1,000 sockets answers late when loaded, and
                        # httpx-ws then closes the socket itself (the server's own pings still check it)
                        keepalive_ping_interval_seconds=None,
                    )
                )
                await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {api_key}"}})
                ack = await ws.receive_json(timeout=EVENT_TIMEOUT_S)
                if ack["type"] != "connection_ack":
                    raise RuntimeError(ack)
                first = await subscribe_until_accepted(ws, analysis_id, me)
            pending: dict[str, Any] | None = first
            while True:
                message = pending or await ws.receive_json(timeout=3 * EVENT_TIMEOUT_S)
                pending = None
                if message["type"] == "complete":
                    break
                if message["type"] != "next" or message["payload"].get("errors"):
                    raise RuntimeError(str(message)[:300])
                event = message["payload"]["data"]["analysisEvents"]
                if event["__typename"] == "AgentProgress":
                    continue
                me.state_events.append(event["__typename"])
                me.received[event["__typename"]] = time.time()
                if len(me.state_events) == 1:
                    ready.put_nowait(None)
            await leave.wait()
    except Exception as error:  # counted and reported, never hidden
        cause: BaseException = error
        while isinstance(cause, BaseExceptionGroup) and len(cause.exceptions) == 1:
            cause = cause.exceptions[0]  # the transport's task groups wrap the actual failure
        me.error = f"{type(cause).__name__}: {cause}"[:300]
        ready.put_nowait(None)


async def subscribe_until_accepted(ws: AsyncWebSocketSession, analysis_id: str, me: Subscriber) -> dict[str, Any]:
    """Subscribe; a refusal the server asks to retry (TOO_MANY_REQUESTS) is retried with backoff, as a client should.
    Returns the first message of the accepted subscription."""
    for attempt in range(SUBSCRIBE_ATTEMPTS):
        operation = str(attempt)
        await ws.send_json(
            {"id": operation, "type": "subscribe", "payload": {"query": EVENTS, "variables": {"id": analysis_id}}}
        )
        message = await ws.receive_json(timeout=3 * EVENT_TIMEOUT_S)
        if not busy(message):
            return dict(message)
        me.retries += 1
        if message["type"] == "next":  # the refusal came as the stream's only result: it completes next
            await ws.receive_json(timeout=EVENT_TIMEOUT_S)
        await backoff(attempt)
    raise RuntimeError(f"still refused after {SUBSCRIBE_ATTEMPTS} attempts: {message}")


async def wait_until_running(db: asyncpg.Connection, analysis_id: uuid.UUID) -> None:
    for _ in range(1200):
        if await db.fetchval("SELECT status::text FROM agent_runs WHERE analysis_id = $1", analysis_id) in (
            "running",
            "RUNNING",
        ):
            return
        await asyncio.sleep(0.05)
    raise RuntimeError("the run never started")


def decode_id(global_id: str) -> uuid.UUID:
    return uuid.UUID(relay.GlobalID.from_id(global_id).node_id)


@dataclass
class Figures:
    subscribers: int
    ready_s: float
    rss_before: float
    rss_with: float
    rss_after: float
    result_delays: list[float]
    finish_delays: list[float]
    delivered: int
    errors: list[str]
    retries: int
    sequences: Counter[tuple[str, ...]]
    connect_cpu_ms: float
    """Server CPU while the subscribers connected and read their snapshot, per subscriber."""
    delivery_cpu_ms: float
    """Server CPU from the release until every subscriber had AnalysisFinished, per subscriber."""


async def measure(
    server: Process,
    standin: Process,
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    api_key: str,
    transcript_id: str,
    subscribers: int,
) -> Figures:
    """One round: a new analysis, N subscribers, the release, every event, and the subscribers leaving."""
    await script_agents(standin, {AGENT: {"latency_s": 0.05, "held": True}})
    analysis = (await execute(http, START_ACTION_ITEMS, {"t": transcript_id}))["analysis"]["id"]
    analysis_id = decode_id(analysis)
    await wait_until_running(db, analysis_id)
    await asyncio.sleep(1.0)
    rss_before = rss_mb(server.popen.pid)
    everyone = [Subscriber() for _ in range(subscribers)]
    connecting, ready, leave = asyncio.Semaphore(_CONNECTING_AT_ONCE), asyncio.Queue[None](), asyncio.Event()
    began, cpu_began = time.monotonic(), tree_cpu(server.popen.pid)
    tasks = [
        asyncio.create_task(subscribe_one(http, api_key, analysis, me, connecting, ready, leave)) for me in everyone
    ]
    for _ in range(subscribers):
        await asyncio.wait_for(ready.get(), 3 * EVENT_TIMEOUT_S)
    ready_s = time.monotonic() - began
    rss_with = rss_mb(server.popen.pid)
    cpu_released = tree_cpu(server.popen.pid)
    with client_collector_off():
        async with httpx.AsyncClient(base_url=standin.base_url, trust_env=False) as control:
            (await control.post(f"/_standin/agents/{AGENT}/release")).raise_for_status()
        deadline = time.monotonic() + 3 * EVENT_TIMEOUT_S
        while any(me.error is None and "AnalysisFinished" not in me.received for me in everyone):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    cpu_delivered = tree_cpu(server.popen.pid)
    leave.set()
    await asyncio.gather(*tasks)
    await asyncio.sleep(3.0)  # the server closes and releases every subscription
    rss_after = rss_mb(server.popen.pid)
    run_finished: datetime = await db.fetchval("SELECT finished_at FROM agent_runs WHERE analysis_id = $1", analysis_id)
    analysis_finished: datetime = await db.fetchval("SELECT finished_at FROM analyses WHERE id = $1", analysis_id)
    done = [me for me in everyone if me.error is None]
    return Figures(
        subscribers,
        ready_s,
        rss_before,
        rss_with,
        rss_after,
        [me.received["AgentSucceeded"] - run_finished.timestamp() for me in done if "AgentSucceeded" in me.received],
        [
            me.received["AnalysisFinished"] - analysis_finished.timestamp()
            for me in done
            if "AnalysisFinished" in me.received
        ],
        sum(len([e for e in me.state_events if e in EXPECTED]) for me in everyone),
        [me.error for me in everyone if me.error],
        sum(me.retries for me in everyone),
        Counter(tuple(me.state_events) for me in everyone),
        (cpu_released - cpu_began) * 1000 / subscribers,
        (cpu_delivered - cpu_released) * 1000 / subscribers,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


def report(number: int, figures: Figures) -> None:
    print(f"round {number}:")
    print(
        f"  subscribers connected and snapshotted in     {figures.ready_s:8.1f} s"
        f"   (server CPU {figures.connect_cpu_ms:.2f} ms per subscriber)"
    )
    print(
        f"  server CPU from the release to the last AnalysisFinished: {figures.delivery_cpu_ms:.2f} ms per subscriber"
        " (its 2 live events; the 0.1 s polling adds an idle tail)"
    )
    for label, delays in (
        ("result (AgentSucceeded) after run finished_at", figures.result_delays),
        ("AnalysisFinished after analysis finished_at", figures.finish_delays),
    ):
        print(
            f"  {label:<45} p50 {percentile(delays, 0.5) * 1000:7.0f} ms   p99 {percentile(delays, 0.99) * 1000:7.0f} ms"
            f"   max {max(delays, default=float('nan')) * 1000:7.0f} ms   (n={len(delays)})"
        )
    expected = figures.subscribers * len(EXPECTED)
    print(f"  state events delivered / expected            {figures.delivered} / {expected}")
    for sequence, count in figures.sequences.most_common(3):
        print(f"    {count:5d} subscribers received {' → '.join(sequence) or 'nothing'}")
    print(f"  subscriptions that failed                    {len(figures.errors)}")
    print(f"  subscribes retried after TOO_MANY_REQUESTS   {figures.retries}")
    for error in sorted(set(figures.errors))[:5]:
        print(f"    {error}")
    print(
        f"  server RSS before / with / after subscribers {figures.rss_before:.0f} / {figures.rss_with:.0f} / "
        f"{figures.rss_after:.0f} MB"
    )


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    async with fresh_database(server_url) as database, standin_process() as standin:
        async with server_process(database.url, standin.base_url, {"analysis_slots": "4", "lease_s": "120"}) as server:
            api_key = await create_api_key(database.url, "Fan-out Bench")
            db = await asyncpg.connect(asyncpg_dsn(database.url))
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, trust_env=False, limits=limits
            ) as http:
                _, transcript_id = await create_transcript(http, DISCOVERY_CALL)
                rounds = [
                    await measure(server, standin, http, db, api_key, transcript_id, args.subscribers)
                    for _ in range(args.rounds)
                ]
            await db.close()
            where = f"stand-in: `dealgraph llm-standin`, process {standin.popen.pid}; server process {server.popen.pid}"
    print(
        f"dealgraph fan-out: {args.subscribers} WebSocket subscribers on one analysis, one `dealgraph serve`, "
        f"{args.rounds} rounds (a new analysis and new subscribers each)"
    )
    print(f"PostgreSQL {database.version} ({source}); Python {platform.python_version()}; {where};")
    print("the bench (all client sockets) shares this machine's cores with the server and PostgreSQL.")
    for number, figures in enumerate(rounds, 1):
        report(number, figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2, help="rounds on the same server: does memory come back?")
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
