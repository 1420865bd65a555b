"""Perceived latency of a live analysis: how soon a client sees the first agent result, and the last.

The earlier system ran the four agents one after another and answered once all were done (3-8 s per
agent). dealgraph runs them in parallel and pushes each result over a GraphQL subscription the moment
it is stored. This bench measures what a client actually perceives, end to end through the real
stack: `dealgraph serve` in its own process on a free 127.0.0.1 port (it applies migrations and
runs the worker pool), a fresh PostgreSQL database, real HTTP for `startAnalysis` and a real
WebSocket (graphql-transport-ws) for `dealAnalysisEvents`.

Agent outputs are simulated by the local Messages API stand-in, running as `dealgraph llm-standin` in a
process of its own (never inside the server), whose per-agent latency is the old system's latency
scaled down (`--scale`, default 0.1). The subscription is opened once, before any
analysis starts, so every pushed event is timed live; the uncounted warm-up run also proves it is
registered. Every figure is measured from just before the mutation is sent until the client
receives the event: the first `AgentSucceeded`, each agent's result, and `AnalysisFinished`.
Workers must pick runs up through LISTEN/NOTIFY (the fallback poll is 1 s), so the overhead shown is
that of the real path.

Run from the repository root: `.venv/bin/python -m bench.analysis_latency [--runs N] [--scale S]`.
Uses TEST_DATABASE_URL / DATABASE_URL when set, else an embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
from dataclasses import dataclass

import httpx

from bench.support import (
    Subscription,
    create_api_key,
    create_transcript,
    execute,
    script_agents,
    server_process,
    standin_process,
    subscription,
)
from harness.postgres import fresh_database, postgres_server
from harness.transcripts import DISCOVERY_CALL

OLD_SYSTEM_SECONDS = {"meeting_intelligence": 3.0, "action_items": 5.0, "stakeholders": 6.5, "meddpicc": 8.0}
"""Per-agent latency of the earlier, sequential system; the stand-in answers in these times x `--scale`."""
LABEL_WIDTH = 50


# force: every run calls the agents; without it the same transcript would reuse the first results.
START_ANALYSIS = """mutation($t: ID!) {
  startAnalysis(transcriptId: $t, force: true) { analysis { id } errors { field message } } }"""
DEAL_EVENTS = """subscription($deal: ID!) {
  dealAnalysisEvents(dealId: $deal) {
    __typename
    ... on AgentEvent { agent analysisId }
    ... on AgentSucceeded { result { __typename
      ... on MeddpiccResult { economicBuyer { status summary } }
      ... on ActionItemsResult { items { description owner } }
      ... on StakeholdersResult { stakeholders { name title } }
      ... on MeetingIntelligenceResult { summary keyTopics } } }
    ... on AnalysisFinished { analysisId status }
  }
}"""


@dataclass(frozen=True)
class RunTiming:
    """Seconds from just before `startAnalysis` was sent until the client received each event."""

    agents: dict[str, float]
    completion: float

    @property
    def first_result(self) -> float:
        return min(self.agents.values())


@dataclass(frozen=True)
class BenchResult:
    timings: list[RunTiming]
    db_version: str


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Perceived latency of a live analysis (simulated agents).")
    parser.add_argument("--runs", type=int, default=10, help="measured analyses (one more warm-up is not counted)")
    parser.add_argument("--scale", type=float, default=0.1, help="stand-in seconds per second of the old system")
    args = parser.parse_args()
    if args.runs < 1 or args.scale <= 0:
        parser.error("--runs must be at least 1 and --scale positive")
    return args


def scaled_latencies(scale: float) -> dict[str, float]:
    return {agent: seconds * scale for agent, seconds in OLD_SYSTEM_SECONDS.items()}


async def start_analysis(http: httpx.AsyncClient, transcript_id: str) -> str:
    return (await execute(http, START_ANALYSIS, {"t": transcript_id}))["analysis"]["id"]


async def measure_run(http: httpx.AsyncClient, events: Subscription, transcript_id: str) -> RunTiming:
    """Start one analysis and time, at the client, each agent's pushed result and the end of the analysis.

    The mutation runs as a task so that events are read (and timed) even before its response arrives.
    """
    sent = time.perf_counter()
    mutation = asyncio.create_task(start_analysis(http, transcript_id))
    agents: dict[str, float] = {}
    while True:
        event = await events.next()
        elapsed = time.perf_counter() - sent
        analysis_id = await mutation  # instant once the response is in; events are already timed
        if event["analysisId"] != analysis_id:
            continue
        match event["__typename"]:
            case "AgentSucceeded":
                agents[event["agent"].lower()] = elapsed
            case "AgentFailed" | "AgentCancelled":
                raise RuntimeError(f"agent did not succeed: {event}")
            case "AnalysisFinished":
                if event["status"] != "SUCCEEDED" or agents.keys() != OLD_SYSTEM_SECONDS.keys():
                    raise RuntimeError(f"analysis ended {event['status']} with results of {sorted(agents)}")
                return RunTiming(agents, elapsed)


async def run_bench(server_url: str, latencies: dict[str, float], runs: int) -> BenchResult:
    async with fresh_database(server_url) as database, standin_process() as standin:
        await script_agents(standin, {agent: {"latency_s": seconds} for agent, seconds in latencies.items()})
        # 1 s poll: a run only starts promptly through NOTIFY
        settings = {
            "analysis_slots": "8",
            "llm_concurrency": "8",
            "progress_interval_s": "0.05",
            "poll_interval_s": "1.0",
        }
        async with server_process(database.url, standin.base_url, settings) as server:
            api_key = await create_api_key(database.url, "Latency Bench")
            headers = {"Authorization": f"Bearer {api_key}"}
            async with httpx.AsyncClient(base_url=server.base_url, headers=headers, trust_env=False) as http:
                deal_id, transcript_id = await create_transcript(http, DISCOVERY_CALL)
                async with subscription(http, api_key, DEAL_EVENTS, {"deal": deal_id}) as events:
                    await measure_run(http, events, transcript_id)  # warm-up (not counted): pools, first-use paths
                    timings = [await measure_run(http, events, transcript_id) for _ in range(runs)]
    return BenchResult(timings, database.version)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def p95(values: list[float]) -> float:
    return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]


def row(label: str, *figures: str) -> None:
    print(f"  {label:<{LABEL_WIDTH}}" + "".join(figures))


def heading(title: str, *columns: str) -> None:
    print()
    print(f"{title:<{LABEL_WIDTH + 2}}" + "".join(f"{column:>10}" for column in columns))


def print_setup(result: BenchResult, db_source: str) -> None:
    print(f"dealgraph analysis latency: {len(result.timings)} runs (+1 warm-up not counted), 4 agents in parallel")
    print("Agent outputs are SIMULATED by the local Messages API stand-in (no model is called), which runs")
    print("as `dealgraph llm-standin` in its own process; `dealgraph serve` runs in another.")
    print(f"PostgreSQL {result.db_version} ({db_source}); Python {platform.python_version()}")
    print("Real HTTP (startAnalysis) + WebSocket (dealAnalysisEvents, graphql-transport-ws) to the server;")
    print("times run from just before the mutation is sent until the client receives the event.")


def print_standin(latencies: dict[str, float], scale: float) -> None:
    heading(f"stand-in latency per agent (old system's 3-8 s x {scale:g})")
    for agent, latency in latencies.items():
        row(agent, ms(latency), f"   (old: {OLD_SYSTEM_SECONDS[agent]:g} s)")
    row("sequential sum (one agent after another)", ms(sum(latencies.values())))
    row("max latency (floor for parallel completion)", ms(max(latencies.values())))


def print_perceived(timings: list[RunTiming], latencies: dict[str, float]) -> None:
    first = [timing.first_result for timing in timings]
    completion = [timing.completion for timing in timings]
    median_first, median_completion = statistics.median(first), statistics.median(completion)
    heading("perceived latency", "median", "p95")
    row("time to first result (first AgentSucceeded)", ms(median_first), ms(p95(first)))
    row("time to completion (AnalysisFinished)", ms(median_completion), ms(p95(completion)))
    row("orchestration overhead (median completion - max)", ms(median_completion - max(latencies.values())))
    row("first result vs waiting for completion", f"{median_completion / median_first:7.1f} x sooner")
    row("parallel completion vs sequential sum", f"{sum(latencies.values()) / median_completion:7.1f} x faster")


def print_per_agent(timings: list[RunTiming], latencies: dict[str, float]) -> None:
    heading("per-agent time to result (overhead: minus stand-in)", "median", "overhead")
    for agent, latency in latencies.items():
        median = statistics.median(timing.agents[agent] for timing in timings)
        row(agent, ms(median), ms(median - latency))


def print_report(result: BenchResult, latencies: dict[str, float], scale: float, db_source: str) -> None:
    print_setup(result, db_source)
    print_standin(latencies, scale)
    print_perceived(result.timings, latencies)
    print_per_agent(result.timings, latencies)


def main() -> None:
    args = parse_args()
    latencies = scaled_latencies(args.scale)
    with postgres_server() as (server_url, db_source):
        result = asyncio.run(run_bench(server_url, latencies, args.runs))
    print_report(result, latencies, args.scale, db_source)


if __name__ == "__main__":
    main()
