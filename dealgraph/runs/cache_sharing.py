"""Sharing one prompt-cache entry for the transcript between the agents of an analysis.

Two facts from the docs decide what is possible. A cache entry becomes readable only once the first
response that writes it has begun (https://platform.claude.com/docs/en/build-with-claude/prompt-caching,
concurrent requests), so four agents started at once each write the transcript. And structured outputs
add a system prompt for the output format, so changing `output_config.format` invalidates the cache
(https://platform.claude.com/docs/en/build-with-claude/structured-outputs): agents with four different
schemas never read each other's entry, and a `max_tokens: 0` pre-warm (which may not carry a format)
writes an entry no agent request can read. Strategies (`DEALGRAPH_CACHE_SHARING`):

- `parallel` (default): every agent asks in its own schema and starts at once. No waiting; the
  transcript is written to the cache once per agent.
- `leader`: every agent asks in one shared schema (`registry.shared_output_schema`, each answering under
  its own key), so the prompts are identical up to the transcript. The first run of an analysis to start
  leads; the others wait until its response starts streaming, then read the entry it wrote. Costs the
  followers the leader's time to first token and a larger output grammar.

Runs of one analysis may execute in different processes, so the gate lives in the analysis row and is
opened with a NOTIFY. A follower never waits longer than `DEALGRAPH_CACHE_WAIT_S`; a leader that fails,
is cancelled or dies hands the lead to the next run that asks. `bench/cache_sharing.py` measures both.

Example:
    gate = CacheGate(database, hub, "leader", wait_s=10)
    async with gate.turn(run) as turn:
        completion = await llm.complete(request, on_progress=..., on_response_start=turn.response_started)
    metadata["cache_role"] = turn.role
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Literal

from dealgraph.claude.client import StartCallback, no_callback
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub

log = logging.getLogger(__name__)

CacheSharing = Literal["parallel", "leader"]
CacheRole = Literal["parallel", "leader", "follower"]


@dataclass
class Turn:
    """How one run took part, for its metadata, and the callback that releases the followers."""

    role: CacheRole = "parallel"
    waited_ms: int = 0
    response_started: StartCallback = field(default=no_callback)


class CacheGate:
    def __init__(
        self, database: Database, hub: NotificationHub | None, strategy: CacheSharing, *, wait_s: float
    ) -> None:
        self.database = database
        self.hub = hub
        self.strategy = strategy
        self.wait_s = wait_s

    @property
    def shares_schema(self) -> bool:
        """Whether the agents must ask in the shared schema: the only way their prompts can share a cache entry."""
        return self.strategy == "leader"

    @asynccontextmanager
    async def turn(self, run: runs.ClaimedRun) -> AsyncIterator[Turn]:
        """Yields once this run may send its request; a leader's gate opens however its turn ends."""
        if self.strategy == "parallel":
            yield Turn()
            return
        opened = False

        async def open_gate() -> None:
            """Never fails the run: sharing is an optimisation, and followers stop waiting on their own."""
            nonlocal opened
            if opened:
                return
            try:
                async with self.database.owner_session() as session:
                    await runs.open_cache(session, run.analysis_id)
                opened = True
            except Exception:  # noqa: BLE001 - logged; the run goes on without releasing its followers early
                log.warning("could not open the cache gate of analysis %s", run.analysis_id, exc_info=True)

        leads = False
        try:
            async with self.database.owner_session() as session:
                leads = await runs.take_cache_lead(session, run.analysis_id, run.id)
            if not leads:
                started = time.monotonic()
                await self._wait_until_open(run)
                yield Turn("follower", round((time.monotonic() - started) * 1000))
                return
            yield Turn("leader", response_started=open_gate)
        finally:
            if leads:
                with suppress(asyncio.CancelledError):
                    await asyncio.shield(open_gate())

    async def _wait_until_open(self, run: runs.ClaimedRun) -> None:
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
