"""Prompt-cache sharing strategies side by side: first-result latency, total latency and input-token cost.

A cache entry is readable only once the response that writes it has started, and the output format is part
of the cached prefix, so `parallel` (each agent its own schema, all at once) writes the transcript four
times; `leader` (one shared schema) starts one agent and releases the others when its response starts (see
`dealgraph/runs/cache_sharing.py`; a `max_tokens: 0` pre-warm cannot carry the format, so it is not a
strategy). This bench runs the same long call through each, in alternating rounds, against one
`dealgraph serve` process at a time and the stand-in in a process of its own.

What is real here: the server, its orchestration and database work, the requests and their order, and the
token accounting of the Messages API (what is written to and read from the cache, by the API's rules).
What is modelled: the stand-in's time to first token grows with the input tokens not read from the cache
(`--prefill-ms-per-1k`), and its generation time per agent is the old system's latency × `--scale`; the
cost uses Claude Sonnet 5.5's list prices. Real latencies depend on Claude; token counts and the cost
ratio between strategies do not.

Run from the repository root: `.venv/bin/python -m bench.cache_sharing [--rounds N] [--runs N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass

import httpx

from bench.analysis_latency import OLD_SYSTEM_SECONDS
from bench.support import (
    ADD_TRANSCRIPT,
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

STRATEGIES = ("parallel", "leader")
PRICE_PER_MTOK = {"input": 2.00, "cache_write_5m": 2.50, "cache_read": 0.10}
"""Claude Sonnet 5.5 (https://platform.claude.com/docs/en/models/sonnet-5-5/migration-guide: cache reads $0.10)."""

START = """mutation($t: ID!) { startAnalysis(transcriptId: $t, force: true) { analysis { id } errors { field message } } }"""
TOTALS = """query($id: ID!) { analysis(id: $id) { totals { inputTokens cacheReadTokens cacheWriteTokens } } }"""
EVENTS = """subscription($deal: ID!) { dealAnalysisEvents(dealId: $deal) {
  __typename ... on AgentEvent { agent analysisId } ... on AnalysisFinished { analysisId status } } }"""

SPEAKERS = ("Alice Chen", "Bob Martinez", "Carol Singh", "Dana Wright")
TOPICS = (
    "We have to cut onboarding time by forty percent before the board meeting in the third quarter.",
    "Our CFO approves anything above fifty thousand dollars, and procurement runs the paperwork after that.",
    "Security review usually takes three weeks, and legal will want the data processing agreement early.",
    "We are also looking at Contoso, but their integration story with our warehouse is weak.",
    "I will send the security questionnaire and a draft order form by Friday so legal can start.",
    "The pilot has to show that forecast accuracy improves for at least two regional teams.",
)


def long_call(utterances: int) -> str:
    """A long discovery call: what makes the transcript's cache entry worth sharing."""
    lines = []
    for n in range(utterances):
        minutes, seconds = divmod(n * 9, 60)
        hours, minutes = divmod(minutes, 60)
        lines.append(
            f"[{hours:02d}:{minutes:02d}:{seconds:02d}] {SPEAKERS[n % 4]}: {TOPICS[n % len(TOPICS)]} (point {n})"
        )
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Run:
    first_result: float
    completion: float
    input_tokens: int
    cache_write_tokens: int
    cache_read_tokens: int

    @property
    def input_cost_usd(self) -> float:
        return (
            self.input_tokens * PRICE_PER_MTOK["input"]
            + self.cache_write_tokens * PRICE_PER_MTOK["cache_write_5m"]
            + self.cache_read_tokens * PRICE_PER_MTOK["cache_read"]
        ) / 1_000_000


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds over the strategies")
    parser.add_argument("--runs", type=int, default=5, help="measured analyses per strategy and round")
    parser.add_argument("--utterances", type=int, default=1200, help="length of the call (about 25 tokens each)")
    parser.add_argument("--scale", type=float, default=0.1, help="stand-in seconds per second of the old system")
    parser.add_argument("--prefill-ms-per-1k", type=float, default=10.0, help="modelled time to first token")
    return parser.parse_args()


async def measure(http: httpx.AsyncClient, events: Subscription, transcript_id: str) -> Run:
    sent = time.perf_counter()
    mutation = asyncio.create_task(execute(http, START, {"t": transcript_id}))
    first: float | None = None
    while True:
        event = await events.next()
        elapsed = time.perf_counter() - sent
        analysis_id = (await mutation)["analysis"]["id"]
        if event["analysisId"] != analysis_id:
            continue
        if event["__typename"] == "AgentSucceeded" and first is None:
            first = elapsed
        elif event["__typename"] in ("AgentFailed", "AgentCancelled"):
            raise RuntimeError(f"agent did not succeed: {event}")
        elif event["__typename"] == "AnalysisFinished":
            if event["status"] != "SUCCEEDED" or first is None:
                raise RuntimeError(f"analysis ended {event['status']}")
            totals = (await http.post("/graphql", json={"query": TOTALS, "variables": {"id": analysis_id}})).json()
            t = totals["data"]["analysis"]["totals"]
            return Run(first, elapsed, t["inputTokens"], t["cacheWriteTokens"], t["cacheReadTokens"])


async def run_strategy(database_url: str, standin_url: str, strategy: str, call: str, runs: int) -> list[Run]:
    async with server_process(
        database_url, standin_url, {"cache_sharing": strategy, "progress_interval_s": "1.0"}
    ) as server:
        api_key = await create_api_key(database_url, f"Cache bench ({strategy})")
        headers = {"Authorization": f"Bearer {api_key}"}
        async with httpx.AsyncClient(base_url=server.base_url, headers=headers, trust_env=False, timeout=60) as http:
            deal_id, transcript_id = await create_transcript(http, f"[00:00:00] Alice Chen: {strategy} warm-up\n{call}")
            async with subscription(http, api_key, EVENTS, {"deal": deal_id}) as events:
                await measure(http, events, transcript_id)  # warm-up, not counted
                measured = []
                for n in range(runs):  # a call never seen before each time: every run starts with a cold cache
                    transcript_input = {
                        "dealId": deal_id,
                        "title": f"Call {n}",
                        "occurredAt": "2026-11-02T15:00:00Z",
                        "content": f"[00:00:00] Alice Chen: {strategy} call {n} {uuid.uuid4()}\n{call}",
                    }
                    added = await execute(http, ADD_TRANSCRIPT, {"input": transcript_input})
                    measured.append(await measure(http, events, added["transcript"]["id"]))
    return measured


async def bench(args: argparse.Namespace, server_url: str) -> tuple[dict[str, list[Run]], str]:
    call = long_call(args.utterances)
    behaviours = {
        agent: {"latency_s": seconds * args.scale, "prefill_s_per_1k_tokens": args.prefill_ms_per_1k / 1000}
        for agent, seconds in OLD_SYSTEM_SECONDS.items()
    }
    behaviours["default"] = {"latency_s": 0.0, "prefill_s_per_1k_tokens": args.prefill_ms_per_1k / 1000}
    results: dict[str, list[Run]] = defaultdict(list)
    async with fresh_database(server_url) as database, standin_process() as standin:
        await script_agents(standin, behaviours)
        for _ in range(args.rounds):
            for strategy in STRATEGIES:
                results[strategy] += await run_strategy(database.url, standin.base_url, strategy, call, args.runs)
    return results, database.version


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.0f} ms"


def main() -> None:
    args = parse_args()
    with postgres_server() as (server_url, db_source):
        results, version = asyncio.run(bench(args, server_url))
    runs = len(next(iter(results.values())))
    print(
        f"dealgraph prompt-cache sharing: {runs} analyses per strategy ({args.rounds} alternating rounds), "
        f"a {args.utterances}-utterance call"
    )
    print(
        f"PostgreSQL {version} ({db_source}); Python {platform.python_version()}; `dealgraph serve` and "
        "`dealgraph llm-standin` in separate processes"
    )
    print(
        f"Modelled: generation = old system's 3-8 s x {args.scale:g}; time to first token = "
        f"{args.prefill_ms_per_1k:g} ms per 1k input tokens not read from the cache. Prices: Claude Sonnet 5.5."
    )
    print()
    print(
        f"{'strategy':<10}{'first result p50':>18}{'total p50':>12}{'input tokens':>14}{'cache write':>13}"
        f"{'cache read':>12}{'input cost':>13}"
    )
    for strategy in STRATEGIES:
        rows = results[strategy]
        first = statistics.median(r.first_result for r in rows)
        total = statistics.median(r.completion for r in rows)
        tokens = [
            statistics.median(getattr(r, f) for r in rows)
            for f in ("input_tokens", "cache_write_tokens", "cache_read_tokens")
        ]
        cost = statistics.median(r.input_cost_usd for r in rows)
        print(
            f"{strategy:<10}{ms(first):>18}{ms(total):>12}{tokens[0]:>14.0f}{tokens[1]:>13.0f}{tokens[2]:>12.0f}"
            f"{'$' + format(cost, '.4f'):>13}"
        )


if __name__ == "__main__":
    main()
