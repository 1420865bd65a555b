"""The Prometheus metric families of one process, and the switch that turns recording on.

Recording is off unless the operator enables `/metrics` (`DEALGRAPH_METRICS_TOKEN`): until `enable()` every
`record_*` call returns at once, so a server that nobody scrapes pays one attribute read per call site.

Labels stay low-cardinality by design: operation type and outcome code, agent, model, outcome. No tenant ids,
no operation names, nothing a client chooses freely.

With `serve --api-processes N` (N > 1) every API process and the analysis pool's process writes its values to
files under `PROMETHEUS_MULTIPROC_DIR` (prometheus_client's multiprocess mode, chosen by that variable when
prometheus_client is first imported), and a scrape of any process adds them up (`dealgraph.server.metrics`).
Gauges of live things (sockets, connections in use) are summed over live processes only (`livesum`).
"""

from __future__ import annotations

import os
import time

from prometheus_client import Counter, Gauge, Histogram

from dealgraph.observability.shared_directory import MULTIPROCESS_DIR_ENV

_SECONDS_OPERATION = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_SECONDS_RUN = (0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0)
_SECONDS_FIRST_TOKEN = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 60.0)
_SECONDS_POOL_WAIT = (0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0)

GRAPHQL_OPERATIONS = Histogram(
    "dealgraph_graphql_operation_duration_seconds",
    "GraphQL operations by type and outcome code (OK, or the first error's code), and how long they took.",
    ["type", "code"],
    buckets=_SECONDS_OPERATION,
)
AGENT_RUNS = Histogram(
    "dealgraph_agent_run_duration_seconds",
    "Agent runs executed by this process, by agent, model and outcome (succeeded, or the failure code).",
    ["agent", "model", "outcome"],
    buckets=_SECONDS_RUN,
)
AGENT_FIRST_TOKEN = Histogram(
    "dealgraph_agent_first_token_seconds",
    "From sending an agent's Messages API request to its first content delta (thinking included).",
    ["agent", "model"],
    buckets=_SECONDS_FIRST_TOKEN,
)
AGENT_TOKENS = Counter(
    "dealgraph_agent_tokens",
    "Tokens agent runs were billed, by kind: input, output, thinking (part of output), cache_read, cache_write.",
    ["agent", "model", "kind"],
)
AGENT_COST = Counter(
    "dealgraph_agent_cost_usd",
    "Estimated list-price cost of agent runs in US dollars (dealgraph/claude/prices.py).",
    ["agent", "model"],
)
OPEN_WEBSOCKETS = Gauge(
    "dealgraph_open_websockets", "Acknowledged graphql-transport-ws sockets.", multiprocess_mode="livesum"
)
ACTIVE_SUBSCRIPTIONS = Gauge(
    "dealgraph_active_subscriptions", "GraphQL subscriptions running.", multiprocess_mode="livesum"
)
DB_CONNECTIONS_IN_USE = Gauge(
    "dealgraph_db_pool_connections_in_use",
    "Database connections checked out of the process's pools, by pool (orm, reads).",
    ["pool"],
    multiprocess_mode="livesum",
)
DB_POOL_WAIT = Histogram(
    "dealgraph_db_pool_wait_seconds",
    "How long taking a connection from a pool took (waiting for a free one, or opening one), by pool.",
    ["pool"],
    buckets=_SECONDS_POOL_WAIT,
)
EMBEDDING_JOBS = Histogram(
    "dealgraph_embedding_jobs_seconds",
    "Embedding jobs (one transcript each) by outcome (done, failed, taken_over), and how long they took.",
    ["outcome"],
    buckets=_SECONDS_RUN,
)

_TOKEN_KINDS = ("input", "output", "thinking", "cache_read", "cache_write")
_state = {"enabled": False}


def enable() -> None:
    """Start recording (the app does, when `/metrics` is enabled)."""
    _state["enabled"] = True


def enabled() -> bool:
    return _state["enabled"]


def multiprocess() -> bool:
    """Whether values go to files shared by the processes of one `serve` (see the module doc)."""
    return bool(os.environ.get(MULTIPROCESS_DIR_ENV))


def record_operation(operation_type: str, code: str, seconds: float) -> None:
    if _state["enabled"]:
        GRAPHQL_OPERATIONS.labels(operation_type, code).observe(seconds)


def record_agent_run(
    agent: str, model: str, outcome: str, seconds: float, tokens: tuple[int, int, int, int, int], cost_usd: float
) -> None:
    """`tokens`: input, output, thinking, cache read, cache write."""
    if not _state["enabled"]:
        return
    AGENT_RUNS.labels(agent, model, outcome).observe(seconds)
    for kind, count in zip(_TOKEN_KINDS, tokens, strict=True):
        if count:
            AGENT_TOKENS.labels(agent, model, kind).inc(count)
    if cost_usd:
        AGENT_COST.labels(agent, model).inc(cost_usd)


def record_first_token(agent: str, model: str, seconds: float) -> None:
    if _state["enabled"]:
        AGENT_FIRST_TOKEN.labels(agent, model).observe(seconds)


def count_websocket(change: int) -> None:
    if _state["enabled"]:
        OPEN_WEBSOCKETS.inc(change)


def count_subscription(change: int) -> None:
    if _state["enabled"]:
        ACTIVE_SUBSCRIPTIONS.inc(change)


def count_connection(pool: str, change: int) -> None:
    if _state["enabled"]:
        DB_CONNECTIONS_IN_USE.labels(pool).inc(change)


def record_pool_wait(pool: str, seconds: float) -> None:
    if _state["enabled"]:
        DB_POOL_WAIT.labels(pool).observe(seconds)


def record_embedding_job(outcome: str, started: float) -> None:
    """`started`: the job's `time.perf_counter()` at its claim."""
    if _state["enabled"]:
        EMBEDDING_JOBS.labels(outcome).observe(time.perf_counter() - started)
