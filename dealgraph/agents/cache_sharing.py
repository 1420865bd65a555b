"""Sharing one prompt-cache entry for the transcript between the agents of an analysis.

A cache entry becomes readable only once the first response that writes it has begun
(https://platform.claude.com/docs/en/build-with-claude/prompt-caching, concurrent requests): four agents
fired at once each pay for writing the transcript to the cache, and none reads it. Strategies
(`DEALGRAPH_CACHE_SHARING`):

- `parallel`: every agent starts at once. Fastest first request; the transcript is written four times.
- `leader`: the first run of an analysis to start leads; the others wait until the leader's response
  starts streaming (its `message_start`), then read the entry it wrote. Costs the followers the
  leader's time to first token.
- `prewarm`: the leader first sends a `max_tokens: 0` request (the documented pre-warm: the API writes the
  cache at the breakpoint and returns at once), then every agent starts, the leader included.

Runs of one analysis may execute in different processes, so the gate lives in the analysis row and is
opened with a NOTIFY; a follower never waits longer than `DEALGRAPH_CACHE_WAIT_S` (the leader's process
may have died), and a leader that fails opens the gate on its way out. `bench/cache_sharing.py` measures
first-result latency, total latency and input-token cost of each strategy.

Example:
    gate = CacheGate(database, hub, llm, "leader", wait_s=10)
    async with gate.turn(run, request) as (on_response_start, turn):
        completion = await llm.complete(request, on_progress=..., on_response_start=on_response_start)
    metadata["cache_role"] = turn.role
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from dealgraph.agents.llm import LlmClient, LlmError, StructuredRequest, Usage
from dealgraph.db.models import AgentRun
from dealgraph.db.notifications import RESYNC, Event, NotificationHub
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database

log = logging.getLogger(__name__)

CacheSharing = Literal["parallel", "leader", "prewarm"]
OnResponseStart = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    return None


@dataclass
class Turn:
    """How one run took part, for its metadata: `role`, how long it waited for the leader, and what the
    pre-warm request cost (billed to the leader's run, so analysis totals are the whole bill)."""

    role: str = "parallel"
    waited_ms: int = 0
    prewarm_usage: Usage = field(default_factory=Usage)


class CacheGate:
    def __init__(
        self, database: Database, hub: NotificationHub | None, llm: LlmClient, strategy: CacheSharing, *, wait_s: float
    ) -> None:
        self.database = database
        self.hub = hub
        self.llm = llm
        self.strategy = strategy
        self.wait_s = wait_s

    @asynccontextmanager
    async def turn(self, run: AgentRun, request: StructuredRequest) -> AsyncIterator[tuple[OnResponseStart, Turn]]:
        """Yields the callback to pass as `on_response_start`, once this run may send its request."""
        turn = Turn()
        if self.strategy == "parallel":
            yield _nothing, turn
            return
        async with self.database.owner_session() as session:
            leads = await runs.take_cache_lead(session, run.analysis_id, run.id)
        if not leads:
            turn.role = "follower"
            started = time.monotonic()
            await self._wait_until_open(run)
            turn.waited_ms = round((time.monotonic() - started) * 1000)
            yield _nothing, turn
            return
        turn.role = "leader"

        async def open_gate() -> None:
            async with self.database.owner_session() as session:
                await runs.open_cache(session, run.analysis_id)

        try:
            if self.strategy == "prewarm":
                turn.prewarm_usage = await self._prewarm(request)
                await open_gate()
                yield _nothing, turn
            else:
                yield open_gate, turn
        finally:
            with suppress(Exception):  # followers fall back to their timeout if this fails too
                await asyncio.shield(open_gate())

    async def _prewarm(self, request: StructuredRequest) -> Usage:
        """A failed pre-warm only costs the sharing, never the run: the agents then write their own entries."""
        try:
            return await self.llm.prewarm(request)
        except LlmError as error:
            log.warning("cache pre-warm failed (%s); agents proceed without a shared entry", error.code)
            return Usage()

    async def _wait_until_open(self, run: AgentRun) -> None:
        if self.hub is None:
            return
        analysis = str(run.analysis_id)

        def opened(event: Event) -> bool:
            return event.get("kind") == runs.CACHE_OPEN and event.get("analysis") == analysis

        deadline = time.monotonic() + self.wait_s
        async with self.hub.subscribe(opened) as subscription:
            while True:  # subscribed first, then checked: an opening between the two is not missed
                async with self.database.owner_session() as session:
                    if await runs.cache_is_open(session, run.analysis_id):
                        return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    log.info("run %s stopped waiting for its analysis' cache entry after %g s", run.id, self.wait_s)
                    return
                try:
                    async with asyncio.timeout(remaining):
                        event = await subscription.queue.get()
                except TimeoutError:
                    continue
                if event is not RESYNC:
                    return
