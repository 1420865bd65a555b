"""Tenant isolation probe: what one tenant's hostile documents cost another tenant, and the server's memory.

One `dealgraph serve` (one API process, no analysis pool, no embedding pool, default limits) on
loopback. Tenant B sends `{ deals(first: 1) { totalCount } }` one request at a time for `--seconds`
while tenant A, from `--attackers` threads (in a process of their own), loops documents that are mostly comment (comments are not
tokens, so the token limit does not bound their lexing), each text unique so no cache helps:

- unattacked: B alone;
- HTTP, N chars: A posts `{viewer{role}}` + a comment, N characters in all;
- WebSocket, N chars: A sends the same as `subscribe` messages, each on its authenticated socket.

Then the stalled clients (`bench.stalled_clients`): server RSS unattacked, at its peak while
`--stalled-bodies` unauthenticated and `--stalled-authenticated` authenticated sockets each send 4 MiB − 64 KiB
of a 4 MiB body and `--half-headers` sockets half their headers, all then stalling, and once the server cut
them; and whether, how and when it cut each. Then the memory probe: server RSS before and after each of
`--rounds` rounds in which A registers `--documents` distinct persisted queries of `--document-chars`
characters each (hash and text together: parse, validation, literal check and persisted store all see it);
bounded caches show as growth that stops after the first round. Bounded: every phase stops after `--seconds`,
each request after 60 s, every stalled client after `--stall-give-up-s`, and the memory probe after
`--rounds` x `--documents` requests. `--phases` runs only some of the three (latency, stall, memory).

Run from the repository root: `.venv/bin/python -m bench.tenant_isolation_probe`. Uses
TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import multiprocessing
import statistics
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType

import httpx
from websockets.sync.client import connect as ws_connect
from websockets.typing import Subprotocol

from bench.proc_cpu import tree_rss_mb
from bench.stalled_clients import attack_and_watch, body_attack, half_headers_attack
from bench.support import create_api_key, run_on_a_server, server_process
from harness.postgres import fresh_database

VICTIM_QUERY = "{ deals(first: 1) { totalCount } }"
REQUEST_TIMEOUT_S = 60.0
ATTACK_WARM_UP_S = 3.0
SETTLE_S = 2.0
"""After the stalled clients are gone, before the server's memory is read again."""


def padded_document(chars: int) -> str:
    """A unique document of `chars` characters: one field, then a comment."""
    text = "{viewer{role}}\n#" + uuid.uuid4().hex
    return text + "x" * max(0, chars - len(text))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def victim_latencies(base_url: str, key: str, seconds: float) -> list[float]:
    """B's latencies in ms, one request at a time, for `seconds`."""
    latencies: list[float] = []
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            response = http.post("/graphql", json={"query": VICTIM_QUERY})
            latencies.append((time.perf_counter() - started) * 1000)
            assert response.json().get("data"), response.text
    return latencies


def http_attacker(base_url: str, key: str, chars: int, stop: threading.Event) -> int:
    sent = 0
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        while not stop.is_set():
            http.post("/graphql", content=json.dumps({"query": padded_document(chars)}))
            sent += 1
    return sent


def ws_attacker(base_url: str, key: str, chars: int, stop: threading.Event) -> int:
    sent = 0
    url = base_url.replace("http://", "ws://") + "/graphql"
    while not stop.is_set():  # a server may close the socket (message too big): open another
        with ws_connect(url, subprotocols=[Subprotocol("graphql-transport-ws")], max_size=None, open_timeout=30) as ws:
            ws.send(json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {key}"}}))
            assert json.loads(ws.recv(timeout=30))["type"] == "connection_ack"
            try:
                while not stop.is_set():
                    message = {"id": str(sent), "type": "subscribe", "payload": {"query": padded_document(chars)}}
                    ws.send(json.dumps(message))
                    while json.loads(ws.recv(timeout=REQUEST_TIMEOUT_S))["type"] not in ("error", "complete"):
                        pass
                    sent += 1
            except Exception:  # noqa: BLE001 - closed by the server: counted, and reconnected
                sent += 1
    return sent


def attacker_process(
    attack: Callable[[str, str, int, threading.Event], int],
    base_url: str,
    key: str,
    chars: int,
    threads: int,
    stop: EventType,
    sent: Synchronized[int],
) -> None:
    """A's threads, in a process of their own: in B's process they would take B's interpreter lock."""
    stopping = threading.Event()
    with ThreadPoolExecutor(threads) as pool:
        running = [pool.submit(attack, base_url, key, chars, stopping) for _ in range(threads)]
        stop.wait()
        stopping.set()
        sent.value = sum(future.result() for future in running)


def under_attack(
    attack: Callable[[str, str, int, threading.Event], int] | None,
    base_url: str,
    keys: tuple[str, str],
    chars: int,
    attackers: int,
    seconds: float,
) -> tuple[list[float], int]:
    """B's latencies while `attackers` threads run `attack` as A; and how many documents A got answered."""
    if attack is None:
        return victim_latencies(base_url, keys[1], seconds), 0
    spawn = multiprocessing.get_context("spawn")
    stop, sent = spawn.Event(), spawn.Value("i", 0)
    process = spawn.Process(target=attacker_process, args=(attack, base_url, keys[0], chars, attackers, stop, sent))
    process.start()
    try:
        time.sleep(ATTACK_WARM_UP_S)  # A's process starts and its attack reaches a steady state
        latencies = victim_latencies(base_url, keys[1], seconds)
    finally:
        stop.set()
        process.join(REQUEST_TIMEOUT_S)
    return latencies, sent.value


def memory_probe(base_url: str, key: str, documents: int, chars: int) -> str:
    """A registers `documents` distinct persisted documents of `chars` characters; how the server answered."""
    codes: dict[str, int] = {}
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT_S, trust_env=False) as http:
        for _ in range(documents):
            text = padded_document(chars)
            persisted = {"persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(text.encode()).hexdigest()}}
            body = http.post("/graphql", content=json.dumps({"query": text, "extensions": persisted})).json()
            code = body["errors"][0]["extensions"]["code"] if body.get("errors") else "served"
            codes[code] = codes.get(code, 0) + 1
    return ", ".join(f"{code} {count}" for code, count in sorted(codes.items()))


def latency_phases(args: argparse.Namespace, base_url: str, keys: tuple[str, str]) -> None:
    phases: list[tuple[str, Callable[[str, str, int, threading.Event], int] | None, int]] = [("unattacked", None, 0)]
    for chars in args.attack_chars:
        phases += [(f"HTTP, {chars:,} chars", http_attacker, chars)]
        phases += [(f"WebSocket, {chars:,} chars", ws_attacker, chars)]
    print(f"{args.attackers} attacker threads; B measured for {args.seconds:g} s per phase")
    print(f"{'phase':<30} {'B p50 ms':>9} {'B p99 ms':>9} {'B requests':>11} {'A documents':>12}")
    for label, attack, chars in phases:
        latencies, sent = under_attack(attack, base_url, keys, chars, args.attackers, args.seconds)
        print(
            f"{label:<30} {statistics.median(latencies):9.1f} {percentile(latencies, 0.99):9.1f} "
            f"{len(latencies):11d} {sent:12d}"
        )


def stall_phase(args: argparse.Namespace, base_url: str, key: str, server_pid: int) -> None:
    """A's stalled clients, all at once; the server's memory unattacked, at its peak meanwhile, and after."""
    attacks = [
        (body_attack("unauthenticated 4 MiB bodies", None), args.stalled_bodies),
        (body_attack("authenticated 4 MiB bodies", key), args.stalled_authenticated),
        (half_headers_attack(), args.half_headers),
    ]
    host, port = httpx.URL(base_url).host, httpx.URL(base_url).port
    assert port is not None
    before = tree_rss_mb(server_pid)
    started = time.monotonic()
    outcomes, peak = attack_and_watch((host, port), attacks, args.stall_give_up_s, lambda: tree_rss_mb(server_pid))
    lasted = time.monotonic() - started
    time.sleep(SETTLE_S)
    print(
        f"stalled clients: server RSS unattacked {before:.0f} MB, peak while stalled {peak:.0f} MB, "
        f"{SETTLE_S:g} s after the last was gone {tree_rss_mb(server_pid):.0f} MB (phase lasted {lasted:.1f} s)"
    )
    for attack, count in attacks:
        print(f"  {count} x {attack.label}: {outcomes[attack.label]}")


def memory_phase(args: argparse.Namespace, base_url: str, key: str, server_pid: int) -> None:
    print(f"server RSS before the memory probe: {tree_rss_mb(server_pid):.0f} MB")
    for round_number in range(1, args.rounds + 1):
        codes = memory_probe(base_url, key, args.documents, args.document_chars)
        print(
            f"server RSS after round {round_number} of {args.documents} distinct persisted documents of "
            f"{args.document_chars:,} chars: {tree_rss_mb(server_pid):.0f} MB ({codes})"
        )


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    """The clients block (threads, as the prober's did); the bench's event loop only waits for them."""
    settings = {"analysis_slots": "0", "embedding_pool": "false"}
    async with fresh_database(server_url) as database:
        async with server_process(database.url, "http://127.0.0.1:9", settings) as server:  # migrates the database
            keys = (await create_api_key(database.url, "attacker"), await create_api_key(database.url, "bystander"))
            print(f"tenant isolation probe: PostgreSQL {database.version} ({source}); `dealgraph serve` defaults,")
            print("one API process")
            pid = server.popen.pid
            if "latency" in args.phases:
                await asyncio.to_thread(latency_phases, args, server.base_url, keys)
            if "stall" in args.phases:
                await asyncio.to_thread(stall_phase, args, server.base_url, keys[0], pid)
            if "memory" in args.phases:
                await asyncio.to_thread(memory_phase, args, server.base_url, keys[0], pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="B's measuring time per phase")
    parser.add_argument("--attackers", type=int, default=6, help="attacker threads")
    parser.add_argument(
        "--attack-chars", type=int, nargs="+", default=[1_900_000, 99_000], help="document sizes A sends"
    )
    parser.add_argument("--documents", type=int, default=60, help="distinct documents of the memory probe")
    parser.add_argument("--document-chars", type=int, default=3_900_000, help="their size in characters")
    parser.add_argument("--rounds", type=int, default=2, help="rounds of the memory probe (growth should stop)")
    parser.add_argument("--stalled-bodies", type=int, default=100, help="unauthenticated stalled 4 MiB bodies")
    parser.add_argument("--stalled-authenticated", type=int, default=10, help="authenticated stalled 4 MiB bodies")
    parser.add_argument("--half-headers", type=int, default=100, help="sockets stalling half way through headers")
    parser.add_argument("--stall-give-up-s", type=float, default=45.0, help="a stalled client waits this long")
    parser.add_argument(
        "--phases", nargs="+", choices=["latency", "stall", "memory"], default=["latency", "stall", "memory"]
    )
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
