"""Cost and wall time of a prompt experiment's agent requests on 100 calls: BATCH (the Message Batches API)
against LIVE (streamed requests, as many at once as an analysis pool's slots), side by side in one run.

Each call is the built-in sample call (`dealgraph.prompts.sample_call`) as a tenant of its own, so every
call's prompt is its own (no call reads another's cache entry), rendered for every agent by the run's own
code with the built-in prompt versions. LIVE sends them through `LlmClient.complete`, at most `--slots`
at once; BATCH submits them all as one Message Batch through `LlmBatches`, polls every `--poll` seconds and
reads the results. Cost is the measured usage at Claude Sonnet 5.5 list prices (`dealgraph.claude.prices`),
halved for the batch.

The stand-in runs as `dealgraph llm-standin` in its own process, every agent answering in
`--agent-latency` seconds. It processes a batch's requests all at once as soon as the batch is created,
so BATCH wall time here is the stand-in's, not the API's: real batches take up to 24 hours, most under
one (https://platform.claude.com/docs/en/build-with-claude/batch-processing). The cost figures hold.

Run from the repository root: `.venv/bin/python -m bench.experiments [--calls N] [--slots N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import time
import uuid
from dataclasses import dataclass

from bench.support import script_agents, standin_process
from dealgraph.agents.kinds import AgentKind
from dealgraph.claude.batches import LlmBatches
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest, Usage
from dealgraph.claude.prices import cost_usd
from dealgraph.config import Settings
from dealgraph.prompts.request import tenant_cache_key
from dealgraph.runs.check import builtin_configurations, check_request


@dataclass(frozen=True)
class Outcome:
    mode: str
    seconds: float
    answered: int
    failed: int
    usage: Usage
    cost: float

    def line(self) -> str:
        return (
            f"| {self.mode} | {self.seconds:,.1f} s | {self.answered} / {self.answered + self.failed} | "
            f"{self.usage.input_tokens + self.usage.cache_write_tokens + self.usage.cache_read_tokens:,} | "
            f"{self.usage.output_tokens:,} | ${self.cost:,.4f} |"
        )


def experiment_requests(settings: Settings, calls: int) -> dict[str, StructuredRequest]:
    """Every agent on every call, by custom id (`call-<n>-<agent>`)."""
    configurations = builtin_configurations(settings)
    requests = {}
    for call in range(calls):
        tenant_key = tenant_cache_key(uuid.uuid4(), settings.anthropic_api_key)
        for configuration in configurations:
            agent = configuration.agent.value.replace("_", "-")
            requests[f"call-{call}-{agent}"] = check_request(configuration, "parallel", tenant_key=tenant_key)
    return requests


async def _no_progress(tokens: int) -> None:
    return None


async def live(settings: Settings, requests: dict[str, StructuredRequest], slots: int) -> Outcome:
    llm = LlmClient(settings)
    gate = asyncio.Semaphore(slots)
    usage, failed = Usage(), 0

    async def one(request: StructuredRequest) -> None:
        nonlocal usage, failed
        async with gate:
            try:
                completion = await llm.complete(request, on_progress=_no_progress)
            except LlmError as error:
                usage, failed = usage + error.usage, failed + 1
            else:
                usage += completion.usage  # added after the await, so no concurrent answer is lost

    started = time.perf_counter()
    try:
        await asyncio.gather(*(one(request) for request in requests.values()))
    finally:
        await llm.close()
    seconds = time.perf_counter() - started
    return Outcome("LIVE", seconds, len(requests) - failed, failed, usage, cost_usd(settings.llm_model, usage))


async def batch(settings: Settings, requests: dict[str, StructuredRequest], poll_s: float) -> Outcome:
    llm = LlmClient(settings)
    batches = LlmBatches(llm)
    usage, answered, failed = Usage(), 0, 0
    started = time.perf_counter()
    try:
        status = await batches.submit(requests)
        while not status.ended:
            await asyncio.sleep(poll_s)
            status = await batches.status(status.batch_id)
        max_tokens = {custom_id: request.max_tokens for custom_id, request in requests.items()}
        async for outcome in batches.results(status.batch_id, max_tokens):
            if outcome.completion is not None:
                usage, answered = usage + outcome.completion.usage, answered + 1
            else:
                assert outcome.error is not None
                usage, failed = usage + outcome.error.usage, failed + 1
    finally:
        await llm.close()
    seconds = time.perf_counter() - started
    return Outcome("BATCH", seconds, answered, failed, usage, cost_usd(settings.llm_model, usage, batch=True))


async def main(args: argparse.Namespace) -> None:
    async with standin_process() as standin:
        await script_agents(standin, {kind.value: {"latency_s": args.agent_latency} for kind in AgentKind})
        settings = Settings(anthropic_api_key="bench-key", anthropic_base_url=standin.base_url)
        # each mode on calls of its own: the second must not read the first one's cache entries
        outcomes = [
            await live(settings, experiment_requests(settings, args.calls), args.slots),
            await batch(settings, experiment_requests(settings, args.calls), args.poll),
        ]
    print(
        f"{args.calls} calls x {len(AgentKind)} agents = {args.calls * len(AgentKind)} requests per mode, {settings.llm_model}, stand-in "
        f"agent latency {args.agent_latency:g} s, LIVE {args.slots} at once, BATCH polled every {args.poll:g} s "
        f"({platform.node()}, {platform.python_version()})"
    )
    print("| mode | wall time | answered | input tokens | output tokens | cost |")
    print("|---|---|---|---|---|---|")
    for outcome in outcomes:
        print(outcome.line())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--slots", type=int, default=8, help="LIVE requests at once (an analysis pool's slots)")
    parser.add_argument("--agent-latency", type=float, default=0.5, help="stand-in seconds per answer")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between BATCH status polls")
    asyncio.run(main(parser.parse_args()))
