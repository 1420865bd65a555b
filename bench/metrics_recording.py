"""What recording metrics costs per call, in microseconds: the work `/metrics` adds to a request or an agent run.

The side-by-side benches (`read_throughput --metrics`, `analysis_throughput --metrics`) measure the whole server
with metrics on against off, but on a shared machine their noise is larger than the cost; this measures the
recording calls alone, in this process, with recording on (what a process with DEALGRAPH_METRICS_TOKEN runs) and
off (every call returns at once). Per path: a GraphQL operation (one histogram), a compiled read (a pool wait
and a connection in use and back), an ORM transaction (a pool wait), an agent run (tokens, cost, two histograms).

Run from the repository root: `.venv/bin/python -m bench.metrics_recording [--calls N]`; as the processes of
`serve --api-processes N` record (to files): `PROMETHEUS_MULTIPROC_DIR=$(mktemp -d) .venv/bin/python -m
bench.metrics_recording`.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import timeit
from collections.abc import Callable

from dealgraph.db.telemetry import taking_connection
from dealgraph.observability import metrics


def graphql_operation() -> None:
    metrics.record_operation("query", "OK", 0.004)


def compiled_read() -> None:
    with taking_connection("reads"):
        pass
    metrics.count_connection("reads", 1)
    metrics.count_connection("reads", -1)


def orm_transaction() -> None:
    with taking_connection("orm"):
        pass


def agent_run() -> None:
    metrics.record_agent_run("meddpicc", "claude-sonnet-5-5", "succeeded", 4.2, (12000, 900, 300, 8000, 0), 0.02)
    metrics.record_first_token("meddpicc", "claude-sonnet-5-5", 0.8)


PATHS: dict[str, Callable[[], None]] = {
    "GraphQL operation": graphql_operation,
    "compiled read": compiled_read,
    "ORM transaction": orm_transaction,
    "agent run": agent_run,
}


def microseconds(call: Callable[[], None], calls: int, repeats: int) -> float:
    return statistics.median(timeit.repeat(call, number=calls, repeat=repeats)) / calls * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100_000, help="calls per timing (default 100000)")
    parser.add_argument("--repeats", type=int, default=7, help="timings per path and state; the median is shown")
    args = parser.parse_args()
    off = {name: microseconds(call, args.calls, args.repeats) for name, call in PATHS.items()}
    metrics.enable()
    on = {name: microseconds(call, args.calls, args.repeats) for name, call in PATHS.items()}
    mode = "multiprocess files" if metrics.multiprocess() else "in memory, one process"
    print(
        f"metrics recording, microseconds per call (median of {args.repeats} x {args.calls:,}); Python "
        f"{platform.python_version()}; values {mode}"
    )
    print(f"  {'path':<20}{'off':>8}{'on':>8}{'added':>8}")
    for name in PATHS:
        print(f"  {name:<20}{off[name]:8.2f}{on[name]:8.2f}{on[name] - off[name]:8.2f}")


if __name__ == "__main__":
    main()
