"""The stalled-client attack of the tenant isolation probe: sockets that send most of a request, then nothing.

Each client opens its own socket, sends part of a request and stalls: half its headers, or its headers and
4 MiB − 64 KiB of a 4 MiB body (without a key, or with one). A server that waits for the rest holds a socket,
a parser and the body read so far for as long as the client likes; the deadlines on headers and bodies (and
refusing an unauthenticated request before reading its body) cut them. Each client reports when the server
cut it and with which status, or that it was still open when the probe gave up.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

BODY_BYTES = 4 * 1024 * 1024
"""The server's default body limit (DEALGRAPH_MAX_BODY_BYTES): the most a client may announce."""
SENT_BYTES = BODY_BYTES - 64 * 1024
HALF_HEADERS = b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: appl"


@dataclass(frozen=True, slots=True)
class Outcome:
    cut_after_s: float | None
    """When the server answered or closed the socket; None: still open when the probe gave up."""
    answer: str
    """The server's status code, "reset" when it closed without one, "open" when it never did."""


@dataclass(frozen=True, slots=True)
class Attack:
    label: str
    head: bytes
    body_bytes: int


def body_attack(label: str, key: str | None) -> Attack:
    authorization = f"Authorization: Bearer {key}\r\n" if key else ""
    head = (
        f"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n{authorization}"
        f"Content-Length: {BODY_BYTES}\r\n\r\n"
    )
    return Attack(label, head.encode(), SENT_BYTES)


def half_headers_attack() -> Attack:
    return Attack("half-sent headers", HALF_HEADERS, 0)


def _status(answer: bytes) -> str:
    parts = answer.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and answer.startswith(b"HTTP/") else "reset"


def stall(address: tuple[str, int], attack: Attack, give_up_s: float) -> Outcome:
    """One client: send the attack's part of a request, then only listen until the server ends it."""
    started = time.monotonic()
    answer = b""
    with socket.create_connection(address, timeout=give_up_s) as client:
        try:
            client.sendall(attack.head)
            if attack.body_bytes:
                client.sendall(b" " * attack.body_bytes)
            client.settimeout(max(0.1, give_up_s - (time.monotonic() - started)))
            while chunk := client.recv(65536):
                answer += chunk
        except TimeoutError:
            return Outcome(None, "open")
        except OSError:  # reset by the server while sending or reading
            pass
    return Outcome(time.monotonic() - started, _status(answer))


def summary(outcomes: list[Outcome]) -> str:
    """How many were cut, and per answer how many and when (the first and the last)."""
    cut = sum(outcome.cut_after_s is not None for outcome in outcomes)
    by_answer: dict[str, list[float]] = {}
    for outcome in outcomes:
        by_answer.setdefault(outcome.answer, []).append(outcome.cut_after_s or 0.0)
    answers = ", ".join(
        f"{answer} {len(times)}" + (f" at {min(times):.1f}-{max(times):.1f} s" if answer != "open" else "")
        for answer, times in sorted(by_answer.items())
    )
    return f"{cut}/{len(outcomes)} cut: {answers}"


def attack_and_watch(
    address: tuple[str, int], attacks: list[tuple[Attack, int]], give_up_s: float, rss_mb: Callable[[], float]
) -> tuple[dict[str, str], float]:
    """Every client of every attack at once; per attack the summary of its clients, and the peak of `rss_mb`
    sampled while any client was still waiting."""
    clients = [attack for attack, count in attacks for _ in range(count)]
    peak = rss_mb()
    with ThreadPoolExecutor(len(clients)) as pool:
        running = [pool.submit(stall, address, attack, give_up_s) for attack in clients]
        while not all(future.done() for future in running):
            peak = max(peak, rss_mb())
            time.sleep(0.1)
    by_attack: dict[str, list[Outcome]] = {}
    for attack, future in zip(clients, running, strict=True):
        by_attack.setdefault(attack.label, []).append(future.result())
    return {label: summary(outcomes) for label, outcomes in by_attack.items()}, peak
