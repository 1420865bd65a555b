"""One tenant's analysis while another tenant floods the queue: does it wait for the flood?

`dealgraph serve` in its own process (its settings as shipped: 8 runs at once cluster-wide, 8 per pool)
against a fresh database, its agents answered by `dealgraph llm-standin` at the latencies `serve` gives the
stand-in it starts itself (`DEALGRAPH_STANDIN_LATENCIES`: 1.5 to 4.5 s). Tenant B's analysis of four agents
is timed alone, then again right after tenant A queued `--flood` forced analyses (four runs each): from just
before B's `startAnalysis` is sent until a query sees it finished (polled every 50 ms). Bounded: every wait
has a deadline, and the flood is drained before the next round.

Run from the repository root: `.venv/bin/python -m bench.tenant_fairness [--flood 15] [--rounds 2]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import httpx

from bench.support import (
    create_api_key,
    create_transcript,
    execute,
    run_on_a_server,
    script_agents,
    server_process,
    standin_process,
)
from dealgraph.config import Settings
from harness.postgres import fresh_database
from harness.transcripts import DISCOVERY_CALL

START = """mutation($t: ID!) { startAnalysis(transcriptId: $t, force: true) { analysis { id } errors { field message } } }"""
FINISHED = "query($id: ID!) { analysis(id: $id) { status finishedAt } }"
DEADLINE_S = 300.0


async def start(http: httpx.AsyncClient, transcript_id: str) -> str:
    return str((await execute(http, START, {"t": transcript_id}))["analysis"]["id"])


async def until_finished(http: httpx.AsyncClient, analysis_id: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while True:
        body = (await http.post("/graphql", json={"query": FINISHED, "variables": {"id": analysis_id}})).json()
        analysis = body["data"]["analysis"]
        if analysis["finishedAt"] is not None:
            if analysis["status"] != "SUCCEEDED":
                raise RuntimeError(f"analysis {analysis_id} ended {analysis['status']}")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"analysis {analysis_id} not finished within {DEADLINE_S:g} s")
        await asyncio.sleep(0.05)


async def timed(http: httpx.AsyncClient, transcript_id: str) -> float:
    sent = time.perf_counter()
    await until_finished(http, await start(http, transcript_id))
    return time.perf_counter() - sent


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    latencies = Settings.model_fields["standin_latencies"].default
    alone: list[float] = []
    flooded: list[float] = []
    async with fresh_database(server_url) as database, standin_process() as standin:
        await script_agents(standin, {agent: {"latency_s": seconds} for agent, seconds in latencies.items()})
        async with server_process(database.url, standin.base_url) as server:
            keys = [await create_api_key(database.url, name) for name in ("Flooding A", "Waiting B")]
            clients = [
                httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {key}"}, trust_env=False)
                for key in keys
            ]
            async with clients[0] as tenant_a, clients[1] as tenant_b:
                _, a_transcript = await create_transcript(tenant_a, DISCOVERY_CALL)
                _, b_transcript = await create_transcript(tenant_b, DISCOVERY_CALL)
                await timed(tenant_b, b_transcript)  # warm-up, not counted
                for _ in range(args.rounds):
                    alone.append(await timed(tenant_b, b_transcript))
                    flood = [await start(tenant_a, a_transcript) for _ in range(args.flood)]
                    flooded.append(await timed(tenant_b, b_transcript))
                    for analysis_id in flood:  # drained before the next round
                        await until_finished(tenant_a, analysis_id)
    print(f"PostgreSQL {database.version} ({source}); stand-in latencies {latencies} s; serve's default settings")
    print(f"tenant B's analysis, {args.rounds} rounds: seconds from startAnalysis to finished")
    for label, seconds in ("alone", alone), (f"after tenant A queued {args.flood} analyses", flooded):
        each = ", ".join(f"{value:.1f}" for value in seconds)
        print(f"  {label:<40} median {statistics.median(seconds):5.1f}   each: {each}")


def main() -> None:
    parser = argparse.ArgumentParser(description="Tenant B's analysis latency with and without tenant A's flood.")
    parser.add_argument("--flood", type=int, default=15, help="forced analyses tenant A queues before B starts")
    parser.add_argument("--rounds", type=int, default=2, help="measured rounds (one more warm-up alone)")
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
