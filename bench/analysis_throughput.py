"""Orchestration cost: analyses completed per second, server CPU per agent run, overhead over the slowest agent.

`dealgraph serve` (API and worker pool) and `dealgraph llm-standin` run as separate processes
(bench/support.py); agents are scripted at ~zero latency, so what is measured is dealgraph's own cost
of claiming, starting, recording and announcing runs. For each batch size, that many analyses (4
agents each) are started at once over HTTP; the rate is analyses / (last analysis `finished_at` -
first `created_at`), both written by PostgreSQL. Server CPU is read from /proc for the server's
process tree over the batch and divided by the agent runs executed; the stand-in's is
reported beside it (another process, but the same cores). The single-analysis overhead is
`finished_at - created_at` minus the slowest scripted agent, one analysis at a time (p50).

With `--metrics`, two servers run side by side, each on a database of its own: one with `/metrics` enabled (and
scraped every 5 s, as Prometheus would), one without; their batches alternate, round after round, and the
medians are compared: the cost of recording metrics on the run path.

Run from the repository root: `.venv/bin/python -m bench.analysis_throughput [--batches 50 200] [--metrics]`.
Uses TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

import asyncpg
import httpx

from bench.fanout import decode_id
from bench.proc_cpu import tree_cpu
from bench.support import (
    create_api_key,
    create_transcript,
    execute,
    run_on_a_server,
    script_agents,
    server_process,
    standin_process,
    worker_processes,
)
from harness.postgres import asyncpg_dsn, fresh_database
from harness.transcripts import DISCOVERY_CALL

AGENTS = ("meeting_intelligence", "action_items", "stakeholders", "meddpicc")
START = """mutation($t: ID!) { startAnalysis(transcriptId: $t, force: true) { analysis { id } errors { field message } } }"""
_FINISH_TIMEOUT_S = 600.0
METRICS_TOKEN = "bench-metrics-token-0123456789"
SCRAPE_INTERVAL_S = 5.0
GOAL_MAX_METRICS_COST = 0.05


async def wait_finished(db: asyncpg.Connection, ids: list[uuid.UUID]) -> int:
    """Polls until done; returns how many polls (each a transaction of this bench's own)."""
    deadline, polls = time.monotonic() + _FINISH_TIMEOUT_S, 1
    while await db.fetchval("SELECT count(*) FROM analyses WHERE id = ANY($1) AND finished_at IS NULL", ids):
        if time.monotonic() > deadline:
            raise RuntimeError("analyses did not finish in time")
        await asyncio.sleep(0.05)
        polls += 1
    return polls


async def committed(db: asyncpg.Connection) -> int:
    """Transactions ended in the bench database so far (PostgreSQL's cumulative statistics, this query included)."""
    # A backend that goes idle with counters not yet published publishes them 10 s later
    # (PGSTAT_IDLE_INTERVAL, PostgreSQL 15+); a shorter wait missed the end of a busy batch.
    await asyncio.sleep(10.5)
    await db.execute("SELECT pg_stat_clear_snapshot()")
    return int(
        await db.fetchval("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = current_database()")
    )


async def start_many(http: httpx.AsyncClient, transcript_id: str, count: int) -> list[uuid.UUID]:
    started = await asyncio.gather(*(execute(http, START, {"t": transcript_id}) for _ in range(count)))
    return [decode_id(payload["analysis"]["id"]) for payload in started]


@dataclass(frozen=True)
class BatchResult:
    count: int
    span_s: float
    cpu_s: float
    runs: int
    transactions: float
    failed: int
    standin_cpu_s: float

    @property
    def rate(self) -> float:
        return self.count / self.span_s

    @property
    def cpu_ms_per_run(self) -> float:
        return self.cpu_s * 1000 / self.runs

    def line(self) -> str:
        return (
            f"  {self.count:4d} analyses at once: {self.rate:6.1f} analyses/s ({self.span_s:.2f} s), "
            f"server CPU {self.cpu_ms_per_run:6.1f} ms per agent run ({self.cpu_s * 1000 / self.count:6.1f} ms per "
            f"analysis), {self.transactions / self.count:.1f} database transactions per analysis, {self.failed} not "
            f"succeeded; the stand-in's CPU {self.standin_cpu_s * 1000 / self.runs:.1f} ms per agent run"
        )


async def batch(
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    server_pids: list[int],
    standin_pid: int,
    transcript_id: str,
    count: int,
) -> BatchResult:
    idle_before = await committed(db)
    idle_began = time.monotonic()
    transactions_before = await committed(db)
    idle_rate = (transactions_before - idle_before - 2) / (time.monotonic() - idle_began)  # polls of an idle server
    cpu_before = sum(tree_cpu(pid) for pid in server_pids)
    standin_before = tree_cpu(standin_pid)
    began = time.monotonic()
    ids = await start_many(http, transcript_id, count)
    polls = await wait_finished(db, ids)
    cpu = sum(tree_cpu(pid) for pid in server_pids) - cpu_before
    standin_cpu = tree_cpu(standin_pid) - standin_before
    transactions: float = await committed(db) - transactions_before - polls - 2  # without the bench's own
    transactions -= idle_rate * (time.monotonic() - began)  # nor the server's idle polling meanwhile
    first, last, failed = await db.fetchrow(
        "SELECT min(created_at), max(finished_at), count(*) FILTER (WHERE status::text NOT IN ('succeeded', 'SUCCEEDED'))"
        " FROM analyses WHERE id = ANY($1)",
        ids,
    )
    runs = await db.fetchval("SELECT count(*) FROM agent_runs WHERE analysis_id = ANY($1)", ids)
    return BatchResult(count, (last - first).total_seconds(), cpu, runs, transactions, failed, standin_cpu)


async def single_overhead(
    http: httpx.AsyncClient,
    db: asyncpg.Connection,
    server_pids: list[int],
    transcript_id: str,
    runs: int,
    agent_latency_s: float,
) -> str:
    """Also where the time went, from the rows' timestamps: when the first run was claimed after
    `startAnalysis`'s transaction began, when each run ended (first to last), and how long the slowest run
    took from its start to its result; and the server's CPU per analysis (one at a time, the server is
    otherwise idle, so the overhead is bounded below by it: everything the server does is on the path)."""
    overheads, claims, slowest, ends = [], [], [], []
    cpu_before = sum(tree_cpu(pid) for pid in server_pids)
    for _ in range(runs):
        [analysis_id] = await start_many(http, transcript_id, 1)
        await wait_finished(db, [analysis_id])
        span, claimed, longest, ended = await db.fetchrow(
            "SELECT extract(epoch FROM a.finished_at - a.created_at),"
            " extract(epoch FROM min(r.started_at) - a.created_at), max(r.latency_ms),"
            " array_agg(extract(epoch FROM r.finished_at - a.created_at) ORDER BY r.finished_at)"
            " FROM analyses a JOIN agent_runs r ON r.analysis_id = a.id WHERE a.id = $1"
            " GROUP BY a.id",
            analysis_id,
        )
        overheads.append(float(span) - agent_latency_s)
        claims.append(float(claimed))
        slowest.append(int(longest))
        ends.append([float(end) for end in ended])
    cpu_ms = (sum(tree_cpu(pid) for pid in server_pids) - cpu_before) * 1000 / runs
    ends_p50 = "/".join(f"{statistics.median(run_ends) * 1000:.0f}" for run_ends in zip(*ends, strict=True))
    return (
        f"  one analysis at a time ({runs} runs): overhead over the slowest agent p50 "
        f"{statistics.median(overheads) * 1000:.0f} ms (min {min(overheads) * 1000:.0f}, max {max(overheads) * 1000:.0f}); "
        f"first run claimed {statistics.median(claims) * 1000:.0f} ms after the analysis was created, "
        f"runs ended at {ends_p50} ms, "
        f"slowest run {statistics.median(slowest):.0f} ms from its start to its result (p50); "
        f"server CPU {cpu_ms:.1f} ms per analysis"
    )


def server_settings(args: argparse.Namespace) -> dict[str, str]:
    return {
        "analysis_slots": str(args.slots),
        "llm_concurrency": str(args.slots),
        "poll_interval_s": "1.0",
        "progress_interval_s": str(args.progress_interval),
        # one tenant starts every analysis at once: the per-tenant fairness cap is not what is measured
        "tenant_concurrency": "64",
        "tenant_queue_s": "120",
        "tenant_connections": "8",
        "db_pool_timeout_s": "120",
    }


@dataclass(frozen=True)
class Variant:
    """One server of the `--metrics` comparison, ready for batches."""

    name: str
    http: httpx.AsyncClient
    db: asyncpg.Connection
    server_pids: list[int]
    transcript_id: str


@asynccontextmanager
async def variant(
    name: str, settings: dict[str, str], server_url: str, standin_url: str, args: argparse.Namespace
) -> AsyncIterator[Variant]:
    async with (
        fresh_database(server_url) as database,
        server_process(database.url, standin_url, settings, api_processes=args.api_processes) as server,
    ):
        api_key = await create_api_key(database.url, "Throughput Bench")
        db = await asyncpg.connect(asyncpg_dsn(database.url))
        headers = {"Authorization": f"Bearer {api_key}"}
        try:
            async with httpx.AsyncClient(
                base_url=server.base_url,
                headers=headers,
                trust_env=False,
                limits=httpx.Limits(max_connections=50),
                timeout=120,
            ) as http:
                _, transcript_id = await create_transcript(http, DISCOVERY_CALL)
                ready = Variant(name, http, db, [server.popen.pid], transcript_id)
                await single_overhead(http, db, ready.server_pids, transcript_id, 3, args.agent_latency)  # warm-up
                yield ready
        finally:
            await db.close()


async def scrape_forever(base_url: str) -> None:
    headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, trust_env=False) as client:
        while True:
            (await client.get("/metrics")).raise_for_status()
            await asyncio.sleep(SCRAPE_INTERVAL_S)


async def metrics_cost(args: argparse.Namespace, server_url: str, source: str) -> None:
    """Batches alternate between the server with metrics and the one without (which goes first alternates too)."""
    results: dict[str, list[BatchResult]] = {"dealgraph+metrics": [], "dealgraph": []}
    async with AsyncExitStack() as stack:
        standin = await stack.enter_async_context(standin_process())
        await script_agents(standin, {agent: {"latency_s": args.agent_latency} for agent in AGENTS})
        on = server_settings(args) | {"metrics_token": METRICS_TOKEN}
        measured = await stack.enter_async_context(variant("dealgraph+metrics", on, server_url, standin.base_url, args))
        peer = await stack.enter_async_context(
            variant("dealgraph", server_settings(args), server_url, standin.base_url, args)
        )
        scraper = asyncio.create_task(scrape_forever(str(measured.http.base_url)), name="scrape-metrics")
        stack.callback(scraper.cancel)
        for number in range(1, args.rounds + 1):
            for side in (measured, peer) if number % 2 else (peer, measured):
                for count in args.batches:
                    result = await batch(
                        side.http, side.db, side.server_pids, standin.popen.pid, side.transcript_id, count
                    )
                    results[side.name].append(result)
                    print(f"round {number} {side.name}:{result.line()}", flush=True)
    print(
        f"\ndealgraph with metrics (DEALGRAPH_METRICS_TOKEN, scraped every {SCRAPE_INTERVAL_S:g} s) against without: "
        f"4 agents per analysis, each scripted at {args.agent_latency * 1000:.0f} ms; PostgreSQL {source}; "
        f"Python {platform.python_version()}; {args.rounds} rounds, alternating; median (min-max)"
    )
    for count in args.batches:
        for label, pick, better_high in (
            ("analyses/s", lambda r: r.rate, True),
            ("server CPU per agent run, ms", lambda r: r.cpu_ms_per_run, False),
        ):
            cells, medians = [], []
            for name, batches in results.items():
                values = [pick(r) for r in batches if r.count == count]
                medians.append(statistics.median(values))
                cells.append(f"{name} {medians[-1]:.1f} ({min(values):.1f}-{max(values):.1f})")
            ratio = medians[0] / medians[1]
            cost = (1 - ratio) if better_high else (ratio - 1)
            verdict = "met" if cost <= GOAL_MAX_METRICS_COST else "NOT met"
            print(
                f"  {count} at once, {label}: {'; '.join(cells)}; ratio {ratio:.3f} "
                f"(goal cost <= {GOAL_MAX_METRICS_COST:.0%}: {verdict})"
            )


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    if args.metrics:
        await metrics_cost(args, server_url, source)
        return
    lines = []
    async with fresh_database(server_url) as database, standin_process() as standin:
        await script_agents(standin, {agent: {"latency_s": args.agent_latency} for agent in AGENTS})
        settings = server_settings(args)
        async with (
            server_process(database.url, standin.base_url, settings, api_processes=args.api_processes) as server,
            worker_processes(args.worker_processes, database.url, standin.base_url, settings) as workers,
        ):
            server_pids = [server.popen.pid, *(worker.pid for worker in workers)]
            api_key = await create_api_key(database.url, "Throughput Bench")
            db = await asyncpg.connect(asyncpg_dsn(database.url))
            limits = httpx.Limits(max_connections=50)
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, trust_env=False, limits=limits, timeout=120
            ) as http:
                _, transcript_id = await create_transcript(http, DISCOVERY_CALL)
                single = (http, db, server_pids, transcript_id)
                await single_overhead(*single, 3, args.agent_latency)  # warm-up, not reported
                if args.single_runs:
                    lines.append(await single_overhead(*single, args.single_runs, args.agent_latency))
                for count in args.batches:
                    result = await batch(http, db, server_pids, standin.popen.pid, transcript_id, count)
                    lines.append(result.line())
            await db.close()
    print(
        f"dealgraph orchestration throughput: 4 agents per analysis, each scripted at {args.agent_latency * 1000:.0f} ms, "
        f"progress every {args.progress_interval:g} s"
    )
    print(f"PostgreSQL {database.version} ({source}); Python {platform.python_version()}; worker slots {args.slots}")
    extra = f" plus {args.worker_processes} `dealgraph worker`" if args.worker_processes else ""
    print(
        f"`dealgraph serve --api-processes {args.api_processes}`{extra} and `dealgraph llm-standin` in separate processes "
        "(server CPU: all but the stand-in); this process is only the client."
    )
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[50, 200])
    parser.add_argument("--single-runs", type=int, default=20)
    parser.add_argument("--slots", type=int, default=32, help="worker slots and cluster-wide LLM concurrency")
    parser.add_argument("--agent-latency", type=float, default=0.01, help="seconds the stand-in takes per agent")
    parser.add_argument(
        "--api-processes", type=int, default=1, help="`dealgraph serve --api-processes N`; server CPU counts them all"
    )
    parser.add_argument(
        "--worker-processes", type=int, default=0, help="`dealgraph worker` processes beside `serve` (scale-out)"
    )
    parser.add_argument("--progress-interval", type=float, default=0.25, help="DEALGRAPH_PROGRESS_INTERVAL_S")
    parser.add_argument(
        "--metrics", action="store_true", help="a server with /metrics side by side with one without (alternating)"
    )
    parser.add_argument("--rounds", type=int, default=3, help="with --metrics: batches per server and size")
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
