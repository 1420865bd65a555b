"""Idle subscribers at scale: 10,000 `analysisEvents` subscriptions across two `dealgraph serve` processes.

Two `dealgraph serve` processes (worker slots 0: nothing executes, so the analyses stay queued and the
subscriptions idle) share one fresh database. One client process per server (`--client`, a compact
asyncio + wsproto WebSocket client: no per-socket threads or keepalive tasks) opens its share of the
subscriptions over real TCP, each on its own socket (graphql-transport-ws: connection_init, ack,
subscribe, the snapshot as the first `next`), spread over several tenants' queued analyses. Then
everyone holds for `--hold` seconds (longer than uvicorn's 20 s WebSocket ping, so the servers' pings
are answered), proves it is alive with a protocol `ping`/`pong`, and leaves; then a second round opens
and closes them all again. Printed per server: RSS at baseline, with everyone connected, after everyone
left, and after the second round; per-subscriber memory; how many subscriptions were acknowledged,
snapshotted and still alive.

Admission: a server accepts at most 20 sockets per client address that have not sent connection_init
(`DEALGRAPH_WS_MAX_PENDING_PER_ADDRESS`, kept at its default here), so each client keeps at most
`--handshakes` (default 16) sockets between TCP connect and `connection_ack`, and at most `--snapshots`
(default 64) subscriptions waiting for their snapshot (a read through the tenant's
`DEALGRAPH_TENANT_CONNECTIONS` connections, which a burst must not wait on longer than
`DEALGRAPH_DB_POOL_TIMEOUT_S`).

Run from the repository root: `.venv/bin/python -m bench.idle_subscribers [--subscribers 10000]`.
Uses TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import sys
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)

from bench.proc_cpu import tree_rss_mb
from bench.support import (
    START_ACTION_ITEMS,
    SUBSCRIBE_ATTEMPTS,
    backoff,
    busy,
    create_api_key,
    create_transcript,
    execute,
    server_process,
)
from dealgraph.children import supervised_env, watch_supervisor
from harness.postgres import fresh_database, postgres_server
from harness.transcripts import DISCOVERY_CALL

EVENTS = """subscription($id: ID!) { analysisEvents(analysisId: $id) { __typename ... on AgentEvent { agent } } }"""
_STEP_TIMEOUT_S = 120.0


def raise_open_files_limit() -> int:
    """Every socket is a file descriptor on both ends; lift the soft limit to the hard one (inherited)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- the client process -------------------------------------------------------------------------------


class Socket:
    """One graphql-transport-ws subscription on its own TCP connection, driven by wsproto."""

    def __init__(self) -> None:
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.messages: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self.closed: str | None = None
        self.events = 0
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task[None] | None = None

    async def open(self, host: str, port: int) -> None:
        reader, self._writer = await asyncio.open_connection(host, port)
        self._pump = asyncio.create_task(self._read(reader))
        self._send(Request(host=f"{host}:{port}", target="/graphql", subprotocols=["graphql-transport-ws"]))
        if (accepted := await self._next()) is None or accepted.get("accepted") is not True:
            raise RuntimeError(f"upgrade refused: {self.closed or accepted}")

    def send_json(self, message: dict[str, Any]) -> None:
        self._send(TextMessage(json.dumps(message)))

    async def expect(self, kind: str) -> dict[str, Any]:
        message = await self._next()
        if message is None or message.get("type") != kind:
            raise RuntimeError(f"expected {kind}, got {self.closed or message}"[:300])
        return message

    async def expect_reply(self) -> dict[str, Any]:
        """The next operation message (`next`, `error` or `complete`)."""
        message = await self._next()
        if message is None:
            raise RuntimeError(f"no reply: {self.closed}")
        return message

    async def _next(self) -> dict[str, Any] | None:
        return await asyncio.wait_for(self.messages.get(), _STEP_TIMEOUT_S)

    def _send(self, event: Any) -> None:
        assert self._writer is not None
        self._writer.write(self.ws.send(event))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        text: list[str] = []
        while data := await reader.read(65536):
            self.ws.receive_data(data)
            for event in self.ws.events():
                if isinstance(event, AcceptConnection):
                    self.messages.put_nowait({"accepted": True})
                elif isinstance(event, RejectConnection):
                    self.closed = f"rejected {event.status_code}"
                elif isinstance(event, Ping):
                    self._send(event.response())
                elif isinstance(event, TextMessage):
                    text.append(event.data)
                    if event.message_finished:
                        message = json.loads("".join(text))
                        text.clear()
                        self.events += message.get("type") == "next"
                        self.messages.put_nowait(message)
                elif isinstance(event, CloseConnection):
                    self.closed = f"closed {event.code} {event.reason}"
                    if self.ws.state.name == "REMOTE_CLOSING":
                        self._send(event.response())
        self.closed = self.closed or "connection lost"
        self.messages.put_nowait(None)

    async def close(self) -> None:
        if self.closed is None and self.ws.state.name == "OPEN":
            self._send(CloseConnection(code=1000))
        if self._writer is not None:
            self._writer.close()
            try:
                await self._writer.wait_closed()
            except OSError:
                pass
        if self._pump is not None:
            self._pump.cancel()


@dataclass
class ClientState:
    sockets: list[Socket] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass
class Pacing:
    handshakes: asyncio.Semaphore
    """Sockets between TCP connect and connection_ack: never more than the server admits per address."""
    snapshots: asyncio.Semaphore
    """Subscriptions waiting for their snapshot, a read through the tenant's few connections."""


async def subscribe_one(
    host: str, port: int, key: str, analysis: str, pacing: Pacing, state: ClientState, counts: dict[str, int]
) -> None:
    socket = Socket()
    state.sockets.append(socket)
    try:
        async with pacing.handshakes:
            await socket.open(host, port)
            socket.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}})
            await socket.expect("connection_ack")
        counts["acknowledged"] += 1
        for attempt in range(SUBSCRIBE_ATTEMPTS):
            async with pacing.snapshots:
                socket.send_json(
                    {
                        "id": str(attempt),
                        "type": "subscribe",
                        "payload": {"query": EVENTS, "variables": {"id": analysis}},
                    }
                )
                first = await socket.expect_reply()
            if not busy(first):
                break
            counts["retried"] += 1  # TOO_MANY_REQUESTS: retry later, as the error says
            await backoff(attempt)
        if first.get("type") != "next" or first["payload"].get("errors"):
            raise RuntimeError(str(first)[:300])
        counts["snapshotted"] += 1
    except Exception as error:  # counted and printed, never hidden
        state.errors.append(f"{type(error).__name__}: {error}"[:300])


async def client(host: str, port: int, handshakes: int, snapshots: int) -> None:
    """Obey one JSON command per stdin line (open, check, leave), answer one JSON line each."""
    raise_open_files_limit()
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    state = ClientState()
    while line := await reader.readline():
        command = json.loads(line)
        if command["do"] == "open":
            state = ClientState()
            counts = {"acknowledged": 0, "snapshotted": 0, "retried": 0}
            pacing = Pacing(asyncio.Semaphore(handshakes), asyncio.Semaphore(snapshots))
            began = time.monotonic()
            await asyncio.gather(
                *(
                    subscribe_one(
                        host,
                        port,
                        command["keys"][i % len(command["keys"])],
                        command["analyses"][i % len(command["analyses"])],
                        pacing,
                        state,
                        counts,
                    )
                    for i in range(command["count"])
                )
            )
            answer: dict[str, Any] = counts | {
                "seconds": time.monotonic() - began,
                "errors": state.errors[:5],
                "failed": len(state.errors),
            }
        elif command["do"] == "check":
            open_ones = [s for s in state.sockets if s.closed is None]
            for socket in open_ones:
                socket.send_json({"type": "ping"})
            pongs = await asyncio.gather(*(socket.expect("pong") for socket in open_ones), return_exceptions=True)
            alive = sum(not isinstance(pong, BaseException) for pong in pongs)
            closed = sorted({s.closed for s in state.sockets if s.closed})[:5]
            answer = {"alive": alive, "closed": closed}
        else:
            await asyncio.gather(*(socket.close() for socket in state.sockets))
            answer = {"left": len(state.sockets)}
            state = ClientState()
        print(json.dumps(answer), flush=True)


# --- the bench process --------------------------------------------------------------------------------


@dataclass
class ClientProcess:
    process: asyncio.subprocess.Process

    async def ask(self, **command: Any) -> dict[str, Any]:
        assert self.process.stdin and self.process.stdout
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the client process died")
        return dict(json.loads(line))


async def start_client(base_url: str, args: argparse.Namespace) -> ClientProcess:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench.idle_subscribers",
        "--client",
        base_url.removeprefix("http://"),
        "--handshakes",
        str(args.handshakes),
        "--snapshots",
        str(args.snapshots),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, **supervised_env()},
    )
    return ClientProcess(process)


async def queued_analyses(base_url: str, database_url: str, tenants: int, per_tenant: int) -> list[tuple[str, str]]:
    """(API key, analysis id) pairs: analyses that stay queued (no process executes runs)."""
    pairs = []
    for number in range(tenants):
        key = await create_api_key(database_url, f"Idle Bench {number}")
        async with httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False
        ) as http:
            _, transcript = await create_transcript(http, DISCOVERY_CALL)
            for _ in range(per_tenant):
                pairs.append((key, (await execute(http, START_ACTION_ITEMS, {"t": transcript}))["analysis"]["id"]))
    return pairs


def memory(servers: list[Any]) -> list[float]:
    return [tree_rss_mb(server.popen.pid) for server in servers]


async def settle(seconds: float) -> None:
    await asyncio.sleep(seconds)


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    limit = raise_open_files_limit()
    settings = {"analysis_slots": "0", "embedding_pool": "false"}
    async with fresh_database(server_url) as database, AsyncExitStack() as stack:
        servers = [
            await stack.enter_async_context(
                server_process(database.url, "http://127.0.0.1:9", settings, api_processes=args.api_processes)
            )
            for _ in range(2)
        ]
        pairs = await queued_analyses(servers[0].base_url, database.url, args.tenants, args.analyses_per_tenant)
        clients = [await start_client(server.base_url, args) for server in servers]
        share = args.subscribers // len(servers)
        keys, analyses = [key for key, _ in pairs], [analysis for _, analysis in pairs]
        await settle(2.0)
        rows: dict[str, list[float]] = {"baseline": memory(servers)}
        rounds = []
        for round_number in (1, 2):
            opened = await asyncio.gather(
                *(c.ask(do="open", count=share, keys=keys, analyses=analyses) for c in clients)
            )
            await settle(1.0)
            rows[f"round {round_number}: all connected"] = memory(servers)
            await settle(args.hold)
            checked = await asyncio.gather(*(c.ask(do="check") for c in clients))
            rows[f"round {round_number}: after {args.hold:g} s idle"] = memory(servers)
            await asyncio.gather(*(c.ask(do="leave") for c in clients))
            await settle(args.settle)
            rows[f"round {round_number}: all left (+{args.settle:g} s)"] = memory(servers)
            rounds.append((opened, checked))
        for client_process in clients:
            client_process.process.stdin.close()  # type: ignore[union-attr]
            await client_process.process.wait()
    report(args, database.version, source, limit, rows, rounds, share)


def report(
    args: argparse.Namespace,
    version: str,
    source: str,
    limit: int,
    rows: dict[str, list[float]],
    rounds: list[Any],
    share: int,
) -> None:
    print(
        f"dealgraph idle subscribers: {args.subscribers} analysisEvents subscriptions, {share} on each of two "
        f"`dealgraph serve --api-processes {args.api_processes}` (DEALGRAPH_ANALYSIS_SLOTS=0), one socket each, over {args.tenants} tenants x "
        f"{args.analyses_per_tenant} queued analyses"
    )
    print(
        f"PostgreSQL {version} ({source}); Python {platform.python_version()}; open-files limit {limit}; "
        f"no agent runs, so no stand-in is involved; one client process per server (asyncio + wsproto), "
        f"at most {args.handshakes} handshakes and {args.snapshots} snapshots in flight each; load average {os.getloadavg()[0]:.1f} at the end"
    )
    for number, (opened, checked) in enumerate(rounds, 1):
        for server, (o, c) in enumerate(zip(opened, checked, strict=True), 1):
            print(
                f"round {number}, server {server}: acknowledged {o['acknowledged']}/{share}, snapshotted "
                f"{o['snapshotted']}/{share} in {o['seconds']:.1f} s ({o['retried']} subscribes retried after "
                f"TOO_MANY_REQUESTS), alive after the hold (ping/pong) "
                f"{c['alive']}/{share}, failed {o['failed']}"
            )
            for error in o["errors"] + c["closed"]:
                print(f"    {error}")
    print(f"{'server RSS (MB)':<38} {'server 1':>9} {'server 2':>9}")
    for label, values in rows.items():
        print(f"{label:<38} {values[0]:9.1f} {values[1]:9.1f}")
    baseline, connected = rows["baseline"], rows["round 1: all connected"]
    per_subscriber = [(c - b) * 1024 / share for b, c in zip(baseline, connected, strict=True)]
    print(f"per subscriber (round 1, connected - baseline): {per_subscriber[0]:.1f} / {per_subscriber[1]:.1f} KB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000, help="in total, split evenly over the two servers")
    parser.add_argument("--tenants", type=int, default=5)
    parser.add_argument("--analyses-per-tenant", type=int, default=4)
    parser.add_argument("--handshakes", type=int, default=16, help="sockets per client between connect and ack")
    parser.add_argument("--snapshots", type=int, default=64, help="subscriptions per client waiting for their snapshot")
    parser.add_argument("--hold", type=float, default=30.0, help="seconds everyone stays connected and idle")
    parser.add_argument(
        "--api-processes",
        type=int,
        default=1,
        help="`serve --api-processes N` per server; with N > 1 an emptied API process restarts to give memory back "
        "(DEALGRAPH_RECYCLE_AFTER_SOCKETS) and RSS is the sum over each server's processes",
    )
    parser.add_argument("--settle", type=float, default=5.0, help="seconds after everyone left before measuring")
    parser.add_argument("--database", choices=["auto", "local", "embedded"], default="auto")
    parser.add_argument("--client", help=argparse.SUPPRESS)  # HOST:PORT: run as one of the bench's client processes
    args = parser.parse_args()
    if args.client:
        watch_supervisor()  # an interrupted bench leaves no client behind
        host, port = args.client.split(":")
        asyncio.run(client(host, int(port), args.handshakes, args.snapshots))
        return
    with postgres_server(args.database) as (server_url, source):
        asyncio.run(run(args, server_url, source))


if __name__ == "__main__":
    main()
