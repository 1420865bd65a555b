"""Live analysis events for subscriptions: snapshot first, then live, with no gap and no duplicate.

The subscription registers with the process's notification hub BEFORE reading the snapshot, so
every change committed after the snapshot read is also heard. Every run state change bumps the
run's `seq`; a live event whose seq the subscriber has already seen (because the snapshot covered
it) is dropped. Progress events carry the seq of the `running` state they belong to, so stale
progress after a later state change is dropped too. On RESYNC (lost listener or slow consumer)
the snapshot is re-read and only what changed is emitted.

A database blip (a failover, a terminated connection) does not end a subscription: a read that lost its
connection is retried with backoff (a live event's read in place, so the events keep their order). Only if
the database stays unreachable for `RECONNECT_PATIENCE_S` does the subscription end, with
SERVICE_UNAVAILABLE: the client resubscribes, and the snapshot brings it up to date. It never ends as if the
analysis were over. A deal's snapshot holds only the analyses in progress, so a resync also re-reads the
analyses this subscriber saw in progress and the snapshot no longer holds: one that ended while its
notifications were lost (the listener reconnecting) is still announced.

Authorisation happens once, at subscribe time: the snapshot is read in the subscriber's tenant
scope, and the hub only hands it events of its own tenant. A live event's row is read once per
process (the hub's `shared_reads`, keyed by tenant, row and seq) and the same read-only row is
given to every subscriber, so M subscribers cost one transaction per event, not M.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from dealgraph.db.models import AgentRun, Analysis
from dealgraph.db.outage import is_outage
from dealgraph.db.repositories import analyses, deals
from dealgraph.db.session import TenantScope
from dealgraph.errors import NotFound, ServiceUnavailable
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub, Topic
from dealgraph.fanout.single_flight import SingleFlight

log = logging.getLogger(__name__)
T = TypeVar("T")

RECONNECT_PATIENCE_S = 30.0
"""How long a subscription keeps retrying an unreachable database before telling its client to resubscribe."""
_FIRST_RETRY_S = 0.1
_MAX_RETRY_S = 2.0


def _resubscribe() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The database cannot be reached; subscribe again shortly: the events resume from the current state."
    )


async def _through_blips(read: Callable[[], Awaitable[T]]) -> T:
    """`read`, retried with backoff while it fails for a lost connection, for at most RECONNECT_PATIENCE_S."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + RECONNECT_PATIENCE_S
    delay = _FIRST_RETRY_S
    while True:
        try:
            return await read()
        except Exception as error:
            if not is_outage(error):
                raise
            if loop.time() + delay > give_up_at:
                raise _resubscribe() from error
            log.warning("a subscription's read lost its database connection (%s); retrying", error)
        await asyncio.sleep(delay)
        delay = min(delay * 2, _MAX_RETRY_S)


@dataclass(frozen=True, slots=True)
class RunState:
    """A run entered the state it has in `run` (queued, running, succeeded, failed or cancelled)."""

    run: AgentRun


@dataclass(frozen=True, slots=True)
class RunProgress:
    analysis_id: uuid.UUID
    run_id: uuid.UUID
    agent: str
    output_tokens: int


@dataclass(frozen=True, slots=True)
class AnalysisDone:
    analysis: Analysis
    runs: tuple[AgentRun, ...]
    """Every run of the analysis, by agent: its totals, read with it once for all subscribers."""


DomainEvent = RunState | RunProgress | AnalysisDone


@dataclass(slots=True)
class Snapshot:
    analyses: list[Analysis]
    runs: list[AgentRun]

    @property
    def finished(self) -> bool:
        return all(a.finished_at is not None for a in self.analyses)


@dataclass(slots=True)
class _Seen:
    runs: dict[uuid.UUID, int] = field(default_factory=dict)
    finished: set[uuid.UUID] = field(default_factory=set)
    in_progress: set[uuid.UUID] = field(default_factory=set)
    """Analyses the subscriber heard of and not yet heard end: a resync reads them even if its snapshot does not."""

    def run(self, run: AgentRun) -> None:
        self.runs[run.id] = run.seq
        if run.analysis_id not in self.finished:
            self.in_progress.add(run.analysis_id)

    def ended(self, analysis_id: uuid.UUID) -> None:
        self.finished.add(analysis_id)
        self.in_progress.discard(analysis_id)


SnapshotRead = Callable[[Callable[[], None]], Awaitable[Snapshot]]
"""Reads a snapshot, calling its argument right before the first statement (see `CoalescedReads`)."""


def _no_op() -> None:
    return None


async def analysis_snapshot(scope: TenantScope, analysis_id: uuid.UUID, begin: Callable[[], None] = _no_op) -> Snapshot:
    async with scope.session() as session:
        begin()
        analysis = await analyses.get(session, analysis_id)
        if analysis is None:
            raise NotFound("Analysis not found.")
        return Snapshot([analysis], await analyses.runs_as_they_happened(session, analysis_id))


async def deal_snapshot(scope: TenantScope, deal_id: uuid.UUID, begin: Callable[[], None] = _no_op) -> Snapshot:
    """Analyses of the deal still in progress (finished ones are history, queried as such)."""
    async with scope.session() as session:
        begin()
        if await deals.get(session, deal_id) is None:
            raise NotFound("Deal not found.")
        open_analyses = await analyses.open_analyses_of_deal(session, deal_id)
        runs = await analyses.runs_of_analyses_as_they_happened(session, [a.id for a in open_analyses])
        return Snapshot(open_analyses, runs)


async def _analyses_snapshot(scope: TenantScope, analysis_ids: AbstractSet[uuid.UUID]) -> Snapshot:
    """These analyses (those still visible) and their runs."""
    async with scope.session() as session:
        found = await analyses.get_many(session, analysis_ids)
        return Snapshot(found, await analyses.runs_of_analyses_as_they_happened(session, [a.id for a in found]))


async def _with_unheard_ends(scope: TenantScope, snapshot: Snapshot, seen: _Seen) -> Snapshot:
    """`snapshot` plus the analyses the subscriber saw in progress that it lacks (a deal's snapshot leaves out
    the ended ones); one that no longer exists is forgotten."""
    missing = seen.in_progress - {analysis.id for analysis in snapshot.analyses}
    if not missing:
        return snapshot
    extra = await _through_blips(lambda: _analyses_snapshot(scope, missing))
    seen.in_progress -= missing - {analysis.id for analysis in extra.analyses}
    return Snapshot([*snapshot.analyses, *extra.analyses], [*snapshot.runs, *extra.runs])


async def stream_events(
    scope: TenantScope,
    hub: NotificationHub,
    *,
    topic: Topic,
    snapshot: SnapshotRead,
    until_finished: bool,
) -> AsyncGenerator[DomainEvent, None]:
    """Events of `topic` (("analysis", id) or ("deal", id)) of the scope's tenant, snapshot first.

    Subscribers of one topic arriving together (or resynced together) share one snapshot read."""
    seen = _Seen()
    tenant = str(scope.tenant_id)
    field, value = topic
    snapshot_key = ("snapshot", scope.tenant_id, field, value)

    def read_snapshot() -> Awaitable[Snapshot]:
        return _through_blips(lambda: hub.snapshot_reads.get(snapshot_key, snapshot))

    def accepts(event: Event) -> bool:
        return event.get("tenant") == tenant and event.get(field) == value

    async with hub.subscribe(accepts, topic) as subscription:
        current = await read_snapshot()
        for event in _replay(current, seen):
            yield event
        if until_finished and current.finished:
            return
        while True:
            raw = await subscription.queue.get()
            if raw is RESYNC:
                current = await _with_unheard_ends(scope, await read_snapshot(), seen)
                for event in _replay(current, seen):
                    yield event
                if until_finished and current.finished:
                    return
                continue
            live = await _through_blips(partial(_interpret, scope, hub.shared_reads, raw, seen))
            if live is not None:
                yield live
            if until_finished and isinstance(live, AnalysisDone):
                return


def _replay(snapshot: Snapshot, seen: _Seen) -> list[DomainEvent]:
    events: list[DomainEvent] = []
    for run in snapshot.runs:
        if run.seq > seen.runs.get(run.id, -1):
            seen.run(run)
            events.append(RunState(run))
    for analysis in snapshot.analyses:
        if analysis.finished_at is None:
            seen.in_progress.add(analysis.id)
        elif analysis.id not in seen.finished:
            seen.ended(analysis.id)
            runs = sorted((run for run in snapshot.runs if run.analysis_id == analysis.id), key=lambda run: run.agent)
            events.append(AnalysisDone(analysis, tuple(runs)))
    return events


async def _finished_analysis(scope: TenantScope, analysis_id: uuid.UUID) -> AnalysisDone | None:
    async with scope.session() as session:
        analysis = await analyses.get(session, analysis_id)
        if analysis is None:
            return None
        return AnalysisDone(analysis, tuple(await analyses.runs_by_agent(session, analysis_id)))


async def _run(scope: TenantScope, run_id: uuid.UUID) -> AgentRun | None:
    async with scope.session() as session:
        return await analyses.get_run(session, run_id)


async def _interpret(scope: TenantScope, reads: SingleFlight, raw: Event, seen: _Seen) -> DomainEvent | None:
    tenant = scope.tenant_id
    kind = raw.get("kind")
    if kind == "finished":
        analysis_id = uuid.UUID(raw["analysis"])
        if analysis_id in seen.finished:
            return None
        done: AnalysisDone | None = await reads.get(
            ("finished", tenant, analysis_id), lambda: _finished_analysis(scope, analysis_id)
        )
        if done is None:
            return None
        seen.ended(analysis_id)
        return done
    run_id = uuid.UUID(raw["run"])
    if kind == "progress":
        if raw["seq"] < seen.runs.get(run_id, -1):
            return None
        return RunProgress(uuid.UUID(raw["analysis"]), run_id, raw["agent"], int(raw["outputTokens"]))
    if raw["seq"] <= seen.runs.get(run_id, -1):
        return None
    run: AgentRun | None = await reads.get(("run", tenant, run_id, raw["seq"]), lambda: _run(scope, run_id))
    if run is None or run.seq <= seen.runs.get(run_id, -1):
        return None
    seen.run(run)  # the row may already be newer than the event: report what it is now
    return RunState(run)
