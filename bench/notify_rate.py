"""The ceiling of PostgreSQL LISTEN/NOTIFY as the live path's transport, on this machine.

Every committing transaction that NOTIFYs takes a cluster-wide lock on the notification queue at
commit, so NOTIFY-ing commits are serialised no matter how many connections write. This bench runs
the same small write transaction (an UPDATE of one row per connection) from `--connections` writers
for `--seconds`, once without and once with a `pg_notify` of a typical run-event payload, while
`--listeners` connections LISTEN (each process of dealgraph holds one), and prints commits/s and
notifications delivered per second to the listeners.

Run from the repository root: `.venv/bin/python -m bench.notify_rate [--connections 16]`.
Uses TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid

import asyncpg

from bench.support import run_on_a_server
from harness.postgres import asyncpg_dsn, fresh_database

CHANNEL = "bench_events"
PAYLOAD = json.dumps(
    {
        "kind": "succeeded",
        "tenant": str(uuid.uuid4()),
        "analysis": str(uuid.uuid4()),
        "deal": str(uuid.uuid4()),
        "run": str(uuid.uuid4()),
        "agent": "meeting_intelligence",
        "seq": 2,
    }
)


async def writer(dsn: str, row: int, notify: bool, stop_at: float) -> int:
    connection = await asyncpg.connect(dsn)
    statement = "UPDATE bench_rows SET n = n + 1 WHERE id = $1"
    commits = 0
    try:
        while time.monotonic() < stop_at:
            async with connection.transaction():
                await connection.execute(statement, row)
                if notify:
                    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, PAYLOAD)
            commits += 1
    finally:
        await connection.close()
    return commits


async def round_(dsn: str, args: argparse.Namespace, notify: bool) -> tuple[float, float]:
    heard = [0]
    listeners = [await asyncpg.connect(dsn) for _ in range(args.listeners)]
    for listener in listeners:
        await listener.add_listener(CHANNEL, lambda *_: heard.__setitem__(0, heard[0] + 1))
    began = time.monotonic()
    commits = await asyncio.gather(*(writer(dsn, row, notify, began + args.seconds) for row in range(args.connections)))
    elapsed = time.monotonic() - began
    await asyncio.sleep(0.5)
    for listener in listeners:
        await listener.close()
    return sum(commits) / elapsed, heard[0] / elapsed


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    async with fresh_database(server_url) as database:
        dsn = asyncpg_dsn(database.url)
        setup = await asyncpg.connect(dsn)
        await setup.execute("CREATE TABLE bench_rows (id int PRIMARY KEY, n bigint NOT NULL DEFAULT 0)")
        await setup.execute("INSERT INTO bench_rows (id) SELECT generate_series(0, $1)", args.connections)
        await setup.close()
        plain, _ = await round_(dsn, args, notify=False)
        notified, heard = await round_(dsn, args, notify=True)
    print(
        f"PostgreSQL {database.version} ({source}); {args.connections} writers, {args.listeners} listeners, "
        f"{args.seconds:g} s per round; payload {len(PAYLOAD)} bytes (limit 8000)"
    )
    print(f"  write transactions without NOTIFY  {plain:8.0f} commits/s")
    print(
        f"  write transactions with NOTIFY     {notified:8.0f} commits/s  ({heard:.0f} notifications/s heard by the listeners)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--listeners", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
