"""Cost and wall time of a 100-call prompt experiment through the feature: `startExperiment` in BATCH mode
(one Message Batch) against LIVE (the normal client path, as many requests at once as the analysis pool's
slots), side by side in one run.

The stack: `dealgraph serve` in its own process on a fresh PostgreSQL database, `dealgraph llm-standin` in
another, every agent answering in `--agent-latency` seconds; the bench is only the client (real HTTP, and
the `experimentEvents` subscription over a real WebSocket to see each experiment end). Each mode runs on
calls of its own (the discovery call, each on a deal of its own), every agent, baseline and candidate both
the built-in `production` versions with no stored result, so every call sends both sides: 2 x 4 requests.
Wall time is from `startExperiment` (its own time also shown: the estimate counts every request's tokens
first) to the event that says it ended; cost is the stored answers' usage at
list price (`dealgraph.claude.prices`), halved for the batch.

The stand-in processes a batch's requests all at once as soon as it is created, so BATCH wall time here is
the server's own work (submit, poll every `--poll` seconds, store), not the API's: real batches take up to
24 hours, most under one (https://platform.claude.com/docs/en/build-with-claude/batch-processing). The cost
figures hold.

Run from the repository root: `.venv/bin/python -m bench.experiments [--calls N] [--slots N]`.
"""

from __future__ import annotations

import argparse
import platform
import time
from dataclasses import dataclass
from typing import Any

import httpx

from bench.support import (
    create_api_key,
    create_transcript,
    execute,
    run_on_a_server,
    script_agents,
    server_process,
    standin_process,
    subscription,
)
from dealgraph.agents.kinds import AgentKind
from harness.postgres import fresh_database
from harness.transcripts import DISCOVERY_CALL

CREATE_DATASET = """mutation($input: CreateDatasetInput!) {
  createDataset(input: $input) { dataset { id } errors { field message } } }"""
START = """mutation($input: StartExperimentInput!) {
  startExperiment(input: $input) { experiment { id estimatedCostUsd } errors { field message } } }"""
EVENTS = """subscription($id: ID!) { experimentEvents(experimentId: $id) { status answered total } }"""
SCORES = """query($id: ID!) { experiment(id: $id) { status summary {
  baseline { succeeded inputTokens outputTokens costUsd } candidate { succeeded inputTokens outputTokens costUsd }
} } }"""


@dataclass(frozen=True)
class Outcome:
    mode: str
    start_seconds: float
    """`startExperiment` alone: the estimate (count_tokens of every request) and the requests stored."""
    seconds: float
    requests: int
    answered: int
    input_tokens: int
    output_tokens: int
    cost: float
    estimate: float

    def line(self) -> str:
        return (
            f"| {self.mode} | {self.start_seconds:,.1f} s | {self.seconds:,.1f} s | {self.answered} / {self.requests} | {self.input_tokens:,} | "
            f"{self.output_tokens:,} | ${self.cost:,.4f} | ${self.estimate:,.4f} |"
        )


async def experiment(http: httpx.AsyncClient, api_key: str, calls: int, mode: str) -> Outcome:
    transcripts = [(await create_transcript(http, DISCOVERY_CALL))[1] for _ in range(calls)]
    selection = {"transcriptIds": transcripts}
    dataset = await execute(http, CREATE_DATASET, {"input": {"name": f"bench {mode}", "selection": selection}})
    production = {"label": "production"}
    request = {
        "datasetId": dataset["dataset"]["id"],
        "agents": [kind.name for kind in AgentKind],
        "baseline": production,
        "candidate": production,
        "mode": mode,
    }
    started = time.perf_counter()
    created = (await execute(http, START, {"input": request}))["experiment"]
    estimated = time.perf_counter() - started
    async with subscription(http, api_key, EVENTS, {"id": created["id"]}) as events:
        while (event := await events.next())["status"] in ("QUEUED", "RUNNING"):
            pass
    if event["status"] != "SUCCEEDED":  # a figure of an experiment that did not run would read as free and instant
        raise SystemExit(f"the {mode} experiment ended {event['status']}: {event}")
    seconds = time.perf_counter() - started
    answer = (await http.post("/graphql", json={"query": SCORES, "variables": {"id": created["id"]}})).json()
    summary: dict[str, Any] = answer["data"]["experiment"]["summary"]
    sides = (summary["baseline"], summary["candidate"])
    return Outcome(
        mode=mode,
        start_seconds=estimated,
        seconds=seconds,
        requests=event["total"],
        answered=sum(side["succeeded"] for side in sides),
        input_tokens=sum(side["inputTokens"] for side in sides),
        output_tokens=sum(side["outputTokens"] for side in sides),
        cost=sum(side["costUsd"] for side in sides),
        estimate=created["estimatedCostUsd"],
    )


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    settings = {
        "analysis_slots": str(args.slots),
        "poll_interval_s": str(args.poll),
        "experiment_budget_usd": "10000",
    }
    async with fresh_database(server_url) as database, standin_process() as standin:
        await script_agents(standin, {kind.value: {"latency_s": args.agent_latency} for kind in AgentKind})
        async with server_process(database.url, standin.base_url, settings) as server:
            api_key = await create_api_key(database.url, "Experiments Bench")
            headers = {"Authorization": f"Bearer {api_key}"}
            timeout = httpx.Timeout(120.0)  # startExperiment counts every request's tokens first
            async with httpx.AsyncClient(
                base_url=server.base_url, headers=headers, timeout=timeout, trust_env=False
            ) as http:
                outcomes = [await experiment(http, api_key, args.calls, mode) for mode in ("LIVE", "BATCH")]
    print(
        f"{args.calls} calls x {len(AgentKind)} agents x baseline and candidate per mode; stand-in agent latency "
        f"{args.agent_latency:g} s, LIVE {args.slots} at once, BATCH polled every {args.poll:g} s; PostgreSQL "
        f"{database.version} ({source}); {platform.node()}, Python {platform.python_version()}"
    )
    print(
        "| mode | startExperiment | wall time | answered | input tokens | output tokens | cost | estimate (at most) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for outcome in outcomes:
        print(outcome.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--slots", type=int, default=8, help="LIVE requests at once (the analysis pool's slots)")
    parser.add_argument("--agent-latency", type=float, default=0.5, help="stand-in seconds per answer")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between the pool's polls of the batch")
    run_on_a_server(parser, run)
