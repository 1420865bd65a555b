"""What linking speakers to people and computing conversation metrics add to `addTranscript`, in one run.

A 1,200-utterance WebVTT call (four speakers, two with seller names in the seller directory) is added again
and again, each time with one word changed so it is new content, alternately with linking and metrics on
("after") and with them skipped ("before", `dealgraph.services.people.link_call` replaced by a no-op). The
app runs in this process behind an ASGI transport, so a request's time is the server's time; medians of
`--requests` requests each way are printed, and the difference as a share of "before" (the goal: at most 10 %),
then the medians of what the parts of linking and metrics took inside the "after" requests (a difference of
two medians is noisier than its parts).

    python -m bench.add_transcript --requests 40
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any
from unittest import mock

import httpx

from bench.support import CREATE_ACCOUNT, CREATE_DEAL, create_api_key, execute, run_on_a_server
from dealgraph.config import Settings
from dealgraph.db.repositories import people as people_repository
from dealgraph.server.app import create_app
from dealgraph.services import people
from harness.postgres import fresh_database

UTTERANCES = 1200
SPEAKERS = ("Alice Chen", "Bob Diaz", "Dana Ortiz", "Ken Wu")
SET_SETTINGS = """mutation($input: PeopleSettingsInput!) {
  setPeopleSettings(input: $input) { settings { sellerNames } errors { field message } } }"""
ADD = """mutation($input: AddTranscriptInput!) {
  addTranscript(input: $input) { transcript { id } errors { field message } } }"""


def call(variant: int) -> str:
    """A long call whose first line names `variant`, so every request adds new content."""
    cues = ["WEBVTT", ""]
    for i in range(UTTERANCES):
        start = i * 4.0
        text = (
            "Um, what would a rollout look like for the team, you know, this quarter?"
            if i % 7 == 0
            else ("We need the onboarding to take weeks rather than months, and security review is next.")
        )
        cues += [
            f"{_clock(start)} --> {_clock(start + 3.2)}",
            f"<v {SPEAKERS[i % 4]}>{text} {variant if i == 0 else ''}",
            "",
        ]
    return "\n".join(cues)


def _clock(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


async def timed(http: httpx.AsyncClient, deal_id: str, variant: int) -> float:
    started = time.perf_counter()
    await execute(http, ADD, {"input": {"dealId": deal_id, "title": f"Call {variant}", "content": call(variant)}})
    return time.perf_counter() - started


async def run(args: argparse.Namespace, server_url: str, source: str) -> None:
    async with fresh_database(server_url) as db:
        settings = Settings(
            database_url=db.url,
            analysis_slots=0,
            embedding_pool=False,
            anthropic_api_key="bench-dummy-key",
            anthropic_base_url="http://127.0.0.1:9",
            max_transcript_bytes=10_000_000,
        )
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            key = await create_api_key(db.url, "add-transcript bench")
            transport = httpx.ASGITransport(app=app)
            headers = {"Authorization": f"Bearer {key}"}
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as http:
                await execute(http, SET_SETTINGS, {"input": {"sellerDomains": [], "sellerNames": list(SPEAKERS[:2])}})
                account = await execute(http, CREATE_ACCOUNT, {"input": {"name": "Northwind"}})
                deal = await execute(http, CREATE_DEAL, {"input": {"accountId": account["account"]["id"], "name": "N"}})
                deal_id = deal["deal"]["id"]
                before, after, parts = await measure(http, deal_id, args.requests)
    print(f"server: PostgreSQL {db.version} ({source}); {UTTERANCES}-utterance WebVTT call, {args.requests} each way")
    b, a = statistics.median(before), statistics.median(after)
    print(f"  addTranscript median, without linking and metrics (before): {b * 1000:.1f} ms")
    print(f"  addTranscript median, with linking and metrics (after):     {a * 1000:.1f} ms")
    print(f"  added: {(a - b) * 1000:.1f} ms = {(a - b) / b:.1%} of before (goal: at most 10 %)")
    medians = {part: statistics.median(spent) for part, spent in parts.items()}
    print(f"  its parts inside an after request (medians), {sum(medians.values()) / b:.1%} of before in all:")
    for part, spent in medians.items():
        print(f"    {part}: {spent * 1000:.1f} ms")


async def measure(
    http: httpx.AsyncClient, deal_id: str, requests: int
) -> tuple[list[float], list[float], dict[str, list[float]]]:
    """Alternating, after a warm-up of each, so both see the same machine load and table sizes."""
    before: list[float] = []
    after: list[float] = []
    parts: dict[str, list[float]] = defaultdict(list)
    skip: Callable[..., Any] = mock.AsyncMock(return_value=None)
    for variant in range(-2, 2 * requests):
        if variant % 2:
            with mock.patch.object(people, "link_call", skip):
                spent = await timed(http, deal_id, variant)
            (before if variant >= 0 else []).append(spent)
        else:
            with timing_parts(parts if variant >= 0 else defaultdict(list)):
                spent = await timed(http, deal_id, variant)
            (after if variant >= 0 else []).append(spent)
    return before, after, parts


@contextmanager
def timing_parts(parts: dict[str, list[float]]) -> Iterator[None]:
    """Time the metrics and the two statements of `link_call` into `parts`, by wrapping them."""

    def sync(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                parts[name].append(time.perf_counter() - started)

        return wrapper

    def asynchronous(name: str, function: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return await function(*args, **kwargs)
            finally:
                parts[name].append(time.perf_counter() - started)

        return wrapper

    with ExitStack() as patches:
        patches.enter_context(mock.patch.object(people, "call_metrics", sync("metrics", people.call_metrics)))
        for name, statement in (
            ("directory read", "directory"),
            ("people, speakers and metrics written", "record_call"),
        ):
            wrapped = asynchronous(name, getattr(people_repository, statement))
            patches.enter_context(mock.patch.object(people_repository, statement, wrapped))
        yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40, help="requests each way (default 40)")
    run_on_a_server(parser, run)


if __name__ == "__main__":
    main()
