"""Fallback load generator (when autocannon/Node is missing): closed loop, N connections, fixed duration.

Runs as its own process (`python bench/loadgen.py …`), so its CPU never lands in a server's figures,
and prints one JSON object with the same fields `read_throughput.py` reads from autocannon.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import httpx


async def _connection(
    client: httpx.AsyncClient, url: str, body: bytes, deadline: float, latencies: list[float], errors: list[int]
) -> None:
    while time.perf_counter() < deadline:
        sent = time.perf_counter()
        try:
            response = await client.post(url, content=body)
            ok = response.status_code == 200
        except httpx.HTTPError:
            ok = False
        if ok:
            latencies.append((time.perf_counter() - sent) * 1000)
        else:
            errors.append(1)


async def run(url: str, body: bytes, headers: dict[str, str], connections: int, duration: float) -> dict[str, float]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    latencies: list[float] = []
    errors: list[int] = []
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=30.0, trust_env=False) as client:
        start = time.perf_counter()
        deadline = start + duration
        await asyncio.gather(*(_connection(client, url, body, deadline, latencies, errors) for _ in range(connections)))
        elapsed = time.perf_counter() - start
    cuts = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) > 1 else latencies * 99
    return {"ok": len(latencies), "errors": len(errors), "duration": elapsed, "p50": cuts[49], "p99": cuts[98]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("url")
    parser.add_argument("--body", required=True)
    parser.add_argument("--header", action="append", default=[], help="Name: value (repeatable)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=float, default=10.0)
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(asyncio.run(run(args.url, args.body.encode(), headers, args.connections, args.duration))))


if __name__ == "__main__":
    main()
