"""Durable analysis state and the agent-run job queue.

Every state change is written and announced (pg_notify) in the same transaction, so a NOTIFY is
never sent for a change that rolled back, and listeners only hear of committed state. Transactions
that change several runs of one analysis lock the analysis row first (always in that order), which
serialises completions, cancellation and reruns of the same analysis without deadlocks.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

from sqlalchemy import func, null, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db import event_transport
from dealgraph.db.models import AgentRun, Analysis, AnalysisStatus, RunStatus, Transcript
from dealgraph.db.notifications import EVENTS_CHANNEL, RUNS_QUEUED_CHANNEL

_CLAIM_LOCK = 0x6465616C  # advisory lock key serialising claims, so the cluster-wide cap is exact


class RunKey(Protocol):
    """What an event names of a run: an `AgentRun`, or a row of just these columns."""

    @property
    def id(self) -> uuid.UUID: ...
    @property
    def tenant_id(self) -> uuid.UUID: ...
    @property
    def analysis_id(self) -> uuid.UUID: ...
    @property
    def agent(self) -> str: ...
    @property
    def seq(self) -> int: ...


def run_event(run: RunKey, kind: str, deal_id: uuid.UUID, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "tenant": str(run.tenant_id),
        "analysis": str(run.analysis_id),
        "deal": str(deal_id),
        "run": str(run.id),
        "agent": run.agent,
        "seq": run.seq,
        **extra,
    }


async def notify(session: AsyncSession, events: Iterable[dict[str, Any]], channel: str = EVENTS_CHANNEL) -> None:
    payloads = [json.dumps(event) for event in events]
    if payloads and channel == EVENTS_CHANNEL and (broker := event_transport.active()) is not None:
        broker.publish_after_commit(session.sync_session, payloads)
    elif payloads:
        await session.execute(
            text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
            {"channel": channel, "payloads": payloads},
        )


_RUNS_QUEUED = select(func.pg_notify(RUNS_QUEUED_CHANNEL, ""))
"""Wakes every worker: runs were queued."""


async def announce_queued(session: AsyncSession) -> None:
    await session.execute(_RUNS_QUEUED)


@dataclass(frozen=True, slots=True)
class StartedAnalysis:
    analysis: Analysis
    created: bool


@dataclass(frozen=True, slots=True)
class PlannedRun:
    """One agent of a new analysis: the prompt version it is pinned to, and a result to reuse, if any."""

    agent: str
    prompt_version_id: uuid.UUID
    reuse: AgentRun | None = None


def _reused_metadata(source: AgentRun) -> dict[str, Any]:
    """The original run's provenance; no request was made this time (tokens stay 0, latency 0)."""
    return {**(source.metadata_ or {}), "attempts": 0, "reused_from_run_id": str(source.id)}


def _new_run(transcript: Transcript, analysis_id: uuid.UUID, planned: PlannedRun) -> dict[str, Any]:
    """Column values of a new run; every run has the same keys, so one multi-row INSERT writes them all."""
    reuse = planned.reuse
    return {
        "id": uuid.uuid4(),
        "tenant_id": transcript.tenant_id,
        "analysis_id": analysis_id,
        "agent": planned.agent,
        "prompt_version_id": planned.prompt_version_id,
        "status": RunStatus.QUEUED if reuse is None else RunStatus.SUCCEEDED,
        "result": null() if reuse is None else reuse.result,
        "metadata_": null() if reuse is None else _reused_metadata(reuse),
        "model": None if reuse is None else reuse.model,
        "latency_ms": None if reuse is None else 0,
        "simulated": False if reuse is None else reuse.simulated,
        "started_at": None if reuse is None else func.now(),
        "finished_at": None if reuse is None else func.now(),
        "seq": 0 if reuse is None else 1,
    }


class _WrittenRun(NamedTuple):
    """What an event names of a run just inserted (see `RunKey`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    analysis_id: uuid.UUID
    agent: str
    seq: int


async def start_analysis(
    session: AsyncSession,
    *,
    transcript: Transcript,
    requested_by: uuid.UUID,
    plan: Sequence[PlannedRun],
    prompt_label: str,
    idempotency_key: str | None,
) -> StartedAnalysis:
    values = {
        "tenant_id": transcript.tenant_id,
        "transcript_id": transcript.id,
        "deal_id": transcript.deal_id,
        "requested_by_id": requested_by,
        "status": AnalysisStatus.QUEUED,
        "agents": [planned.agent for planned in plan],
        "prompt_label": prompt_label,
        "idempotency_key": idempotency_key,
    }
    statement = (
        insert(Analysis)
        .values(values)
        .on_conflict_do_nothing(constraint="uq_analyses_idempotency_key")
        .returning(Analysis)
    )
    analysis = await session.scalar(statement)
    if analysis is None:  # the idempotency key was used before: that analysis is the answer
        existing = await session.scalar(select(Analysis).where(Analysis.idempotency_key == idempotency_key))
        assert existing is not None
        return StartedAnalysis(existing, created=False)
    new_runs = [_new_run(transcript, analysis.id, planned) for planned in plan]
    queued = any(run["status"] is RunStatus.QUEUED for run in new_runs)
    written = insert(AgentRun).values(new_runs)  # one statement, no unit of work to flush
    if queued:  # workers hear of the runs in the same round trip (a data-modifying WITH always runs in full)
        await session.execute(_RUNS_QUEUED.add_cte(written.cte("written")))
    else:
        await session.execute(written)
    events = [
        run_event(
            _WrittenRun(run["id"], run["tenant_id"], analysis.id, run["agent"], run["seq"]),
            "succeeded",
            transcript.deal_id,
        )
        for run in new_runs
        if run["status"] is RunStatus.SUCCEEDED
    ]
    if not queued and (finished := await _settle(session, analysis.id, analysis.tenant_id, analysis.deal_id)):
        await session.refresh(analysis)  # every result was reused: it is finished already
        events.append(finished)
    await notify(session, events)
    return StartedAnalysis(analysis, created=True)


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    run: AgentRun
    deal_id: uuid.UUID
    transcript_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Claim:
    runs: list[ClaimedRun]
    more_waiting: bool
    """The claim took all the room it had: claimable runs may be left, so a freed slot should claim again.
    False when fewer runs than the room were claimable, so a freed slot need not ask until runs are queued."""


async def claim_runs(
    session: AsyncSession, *, worker_id: str, limit: int, cluster_cap: int, lease_s: float, max_attempts: int
) -> Claim:
    """Claim queued runs and runs whose worker died (lease expired), within the cluster-wide cap."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _CLAIM_LOCK})
    busy = await session.scalar(
        select(func.count()).where(AgentRun.status == RunStatus.RUNNING, AgentRun.lease_expires_at >= func.now())
    )
    room = min(limit, cluster_cap - int(busy or 0))
    if room <= 0:
        return Claim([], more_waiting=True)
    lease = timedelta(seconds=lease_s)
    candidates = (
        select(AgentRun.id)
        .where(
            (AgentRun.status == RunStatus.QUEUED)
            | ((AgentRun.status == RunStatus.RUNNING) & (AgentRun.lease_expires_at < func.now()))
        )
        .where(AgentRun.attempts < max_attempts)
        .order_by(AgentRun.queued_at)
        .limit(room)
        .with_for_update(skip_locked=True)
        .cte("candidates")  # a CTE runs once; an IN-subquery with LIMIT may be rescanned and over-claim
    )
    claimed = (
        await session.execute(
            update(AgentRun)
            .where(AgentRun.id.in_(select(candidates.c.id)), AgentRun.analysis_id == Analysis.id)
            .values(
                status=RunStatus.RUNNING,
                worker_id=worker_id,
                lease_expires_at=func.now() + lease,
                attempts=AgentRun.attempts + 1,
                started_at=func.now(),
                seq=AgentRun.seq + 1,
            )
            .returning(AgentRun, Analysis.deal_id, Analysis.transcript_id)  # UPDATE … FROM analyses: no second read
        )
    ).all()
    await notify(session, (run_event(run, "started", deal_id, attempt=run.attempts) for run, deal_id, _ in claimed))
    return Claim(
        [ClaimedRun(run, deal_id, transcript_id) for run, deal_id, transcript_id in claimed], len(claimed) == room
    )


async def mark_analyses_running(session: AsyncSession, analysis_ids: Iterable[uuid.UUID]) -> None:
    """Separate from the claim so a claim never waits on an analysis lock (see module docstring)."""
    await session.execute(
        update(Analysis)
        .where(Analysis.id.in_(set(analysis_ids)), Analysis.status == AnalysisStatus.QUEUED)
        .values(status=AnalysisStatus.RUNNING, started_at=func.coalesce(Analysis.started_at, func.now()))
    )


async def extend_lease(session: AsyncSession, run_id: uuid.UUID, worker_id: str, lease_s: float) -> bool:
    """False once the run is no longer this worker's (cancelled, or re-claimed after a stall)."""
    extended = await session.scalar(
        update(AgentRun)
        .where(AgentRun.id == run_id, AgentRun.worker_id == worker_id, AgentRun.status == RunStatus.RUNNING)
        .values(lease_expires_at=func.now() + timedelta(seconds=lease_s))
        .returning(AgentRun.id)
    )
    return extended is not None


async def _lock_analysis(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    return await session.scalar(select(Analysis).where(Analysis.id == analysis_id).with_for_update())


_SETTLE_SQL = """
    UPDATE analyses SET
        status = CASE
            WHEN EXISTS (SELECT FROM agent_runs WHERE analysis_id = :analysis AND status = 'cancelled') THEN 'cancelled'
            WHEN NOT EXISTS (SELECT FROM agent_runs WHERE analysis_id = :analysis AND status <> 'succeeded')
                THEN 'succeeded'
            WHEN NOT EXISTS (SELECT FROM agent_runs WHERE analysis_id = :analysis AND status <> 'failed') THEN 'failed'
            ELSE 'partial'
        END::analysis_status,
        finished_at = now(),
        started_at = coalesce(started_at, now())  -- e.g. every result reused: started as it ended
    WHERE id = :analysis
      AND finished_at IS NULL
      AND NOT EXISTS (
          SELECT FROM agent_runs
          WHERE analysis_id = :analysis AND status NOT IN ('succeeded', 'failed', 'cancelled')
      )
    RETURNING status
    """
_SETTLE = text(_SETTLE_SQL)
"""Finishes an analysis none of whose runs is left to do: cancelled if any run was, else succeeded or failed
if all were, else partial. Plain SQL, fixed text: it runs at the end of every run, where building the
equivalent expression and its cache key was a visible share of a run's CPU."""
_SETTLE_AND_NOTIFY = text(
    f"WITH settled AS ({_SETTLE_SQL}) SELECT (SELECT status FROM settled), pg_notify(:channel, :event)"
)
"""The same, also sending one event in the same round trip (the NOTIFY transport: the run's own event,
queued before any `finished` event of the analysis that a later statement sends)."""


async def _settle(
    session: AsyncSession,
    analysis_id: uuid.UUID,
    tenant_id: uuid.UUID,
    deal_id: uuid.UUID,
    with_event: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Finish the analysis if none of its runs is left to do; returns the `finished` event then.

    One statement: the caller holds the analysis lock, so exactly one of the runs ending together settles it.
    `with_event` is NOTIFY-ed by the same statement (only when PostgreSQL is the event transport)."""
    if with_event is None:
        settled = await session.scalar(_SETTLE, {"analysis": analysis_id})
    else:
        parameters = {"analysis": analysis_id, "channel": EVENTS_CHANNEL, "event": json.dumps(with_event)}
        settled = await session.scalar(_SETTLE_AND_NOTIFY, parameters)
    if settled is None:
        return None
    return {
        "kind": "finished",
        "tenant": str(tenant_id),
        "analysis": str(analysis_id),
        "deal": str(deal_id),
        "status": AnalysisStatus(settled).value,
    }


@dataclass(frozen=True, slots=True)
class Outcome:
    status: RunStatus
    result: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None
    simulated: bool = False
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    latency_ms: int | None = None
    error_code: str | None = None
    error_message: str | None = None


_FINISH = text(
    """
    WITH analysis AS (SELECT tenant_id, deal_id FROM analyses WHERE id = :analysis FOR UPDATE)
    UPDATE agent_runs SET
        status = CAST(:status AS agent_run_status),
        result = CAST(:result AS jsonb),
        metadata = CAST(:metadata AS jsonb),
        simulated = :simulated,
        model = :model,
        input_tokens = :input_tokens,
        output_tokens = :output_tokens,
        cache_read_tokens = :cache_read_tokens,
        cache_write_tokens = :cache_write_tokens,
        latency_ms = :latency_ms,
        error_code = :error_code,
        error_message = :error_message,
        finished_at = now(),
        lease_expires_at = NULL,
        seq = agent_runs.seq + 1
    FROM analysis
    WHERE agent_runs.id = :run AND agent_runs.worker_id = :worker AND agent_runs.status = 'running'
    RETURNING agent_runs.id, agent_runs.tenant_id, agent_runs.analysis_id, agent_runs.agent, agent_runs.seq,
              analysis.tenant_id AS analysis_tenant_id, analysis.deal_id
    """
)
"""Locks the analysis (serialising the runs that end together, see `_settle`) and records the run's end, in
one statement; no row when the analysis is gone or the run is no longer this worker's."""


async def finish_run(session: AsyncSession, claimed: AgentRun, worker_id: str, outcome: Outcome) -> bool:
    """Record a run's end; False (and nothing written) if the run is no longer this worker's.

    Two statements of fixed text (the end; the settlement, carrying the run's NOTIFY), a third only for the
    run that finishes its analysis: this runs once per agent run, the hottest write there is. JSON values
    are stored as the ORM stores them (None as JSON null)."""
    run = (
        await session.execute(
            _FINISH,
            {
                "analysis": claimed.analysis_id,
                "run": claimed.id,
                "worker": worker_id,
                "status": outcome.status.value,
                "result": json.dumps(outcome.result),
                "metadata": json.dumps(outcome.metadata),
                "simulated": outcome.simulated,
                "model": outcome.model,
                "input_tokens": outcome.input_tokens,
                "output_tokens": outcome.output_tokens,
                "cache_read_tokens": outcome.cache_read_tokens,
                "cache_write_tokens": outcome.cache_write_tokens,
                "latency_ms": outcome.latency_ms,
                "error_code": outcome.error_code,
                "error_message": outcome.error_message,
            },
        )
    ).first()
    if run is None:
        return False
    ended = run_event(run, outcome.status.value, run.deal_id)
    rides = event_transport.active() is None  # NOTIFY: the run's event rides on the settlement's round trip
    finished = await _settle(
        session, claimed.analysis_id, run.analysis_tenant_id, run.deal_id, with_event=ended if rides else None
    )
    await notify(session, ([] if rides else [ended]) + ([finished] if finished else []))
    return True


async def fail_exhausted_runs(session: AsyncSession, max_attempts: int) -> int:
    """Runs whose worker died on every one of their attempts fail, instead of being retried forever.

    No row lock here: `finish_run` locks the analysis before the run (the order every writer uses)
    and only updates a run still held by the worker it was read with, so a race changes nothing.
    """
    lost = (
        await session.scalars(
            select(AgentRun).where(
                AgentRun.status == RunStatus.RUNNING,
                AgentRun.lease_expires_at < func.now(),
                AgentRun.attempts >= max_attempts,
            )
        )
    ).all()
    for run in lost:
        outcome = Outcome(
            RunStatus.FAILED,
            error_code="WORKER_LOST",
            error_message=f"the worker executing this run stopped responding {run.attempts} times",
        )
        await finish_run(session, run, run.worker_id or "", outcome)
    return len(lost)


async def cancel_analysis(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    analysis = await _lock_analysis(session, analysis_id)
    if analysis is None:
        return None
    cancelled = (
        await session.scalars(
            update(AgentRun)
            .where(AgentRun.analysis_id == analysis_id, AgentRun.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]))
            .values(
                status=RunStatus.CANCELLED,
                finished_at=func.now(),
                lease_expires_at=None,
                error_code="CANCELLED",
                error_message="cancelled by a user",
                seq=AgentRun.seq + 1,
            )
            .returning(AgentRun)
        )
    ).all()
    events = [run_event(run, "cancelled", analysis.deal_id) for run in cancelled]
    if finished := await _settle(session, analysis.id, analysis.tenant_id, analysis.deal_id):
        await session.refresh(analysis)
        events.append(finished)
    await notify(session, events)
    return analysis


async def rerun_agent(session: AsyncSession, analysis_id: uuid.UUID, agent: str) -> AgentRun | None:
    """Queue a failed or cancelled run again; None if there is no such run to rerun."""
    analysis = await _lock_analysis(session, analysis_id)
    if analysis is None:
        return None
    run = await session.scalar(
        update(AgentRun)
        .where(
            AgentRun.analysis_id == analysis_id,
            AgentRun.agent == agent,
            AgentRun.status.in_([RunStatus.FAILED, RunStatus.CANCELLED]),
        )
        .values(
            status=RunStatus.QUEUED,
            attempts=0,
            queued_at=func.now(),
            started_at=None,
            finished_at=None,
            worker_id=None,
            error_code=None,
            error_message=None,
            result=None,
            metadata_=None,
            model=None,
            input_tokens=0,
            output_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            latency_ms=None,
            seq=AgentRun.seq + 1,
        )
        .returning(AgentRun)
    )
    if run is None:
        return None
    analysis.status = AnalysisStatus.RUNNING if analysis.started_at else AnalysisStatus.QUEUED
    analysis.finished_at = None
    await notify(session, [run_event(run, "queued", analysis.deal_id)])
    await announce_queued(session)
    return run


async def release_runs(session: AsyncSession, worker_id: str) -> int:
    """On graceful shutdown, hand this worker's runs back to the queue instead of waiting out the lease."""
    released = await session.scalars(
        update(AgentRun)
        .where(AgentRun.worker_id == worker_id, AgentRun.status == RunStatus.RUNNING)
        .values(status=RunStatus.QUEUED, worker_id=None, lease_expires_at=None, attempts=AgentRun.attempts - 1)
        .returning(AgentRun.id)
    )
    count = len(released.all())
    if count:
        await announce_queued(session)
    return count


CACHE_OPEN = "cache_open"
"""Event kind on the events channel; it carries no tenant, so GraphQL subscriptions never see it."""


async def take_cache_lead(session: AsyncSession, analysis_id: uuid.UUID, run_id: uuid.UUID) -> bool:
    """The first run of an analysis to ask leads. The lead passes on when its run is no longer running
    under a live lease (it failed, was cancelled, or its worker died), so no later run waits for a dead
    leader; a re-claimed leader keeps it."""
    leader_gone = ~(
        select(AgentRun.id)
        .where(
            AgentRun.id == Analysis.cache_leader_run_id,
            AgentRun.status == RunStatus.RUNNING,
            AgentRun.lease_expires_at >= func.now(),
        )
        .exists()
    )
    led = await session.scalar(
        update(Analysis)
        .where(
            Analysis.id == analysis_id,
            Analysis.cache_opened_at.is_(None),
            Analysis.cache_leader_run_id.is_(None) | (Analysis.cache_leader_run_id == run_id) | leader_gone,
        )
        .values(cache_leader_run_id=run_id)
        .returning(Analysis.id)
    )
    return led is not None


async def cache_is_open(session: AsyncSession, analysis_id: uuid.UUID) -> bool:
    opened = await session.scalar(select(Analysis.cache_opened_at).where(Analysis.id == analysis_id))
    return opened is not None


async def open_cache(session: AsyncSession, analysis_id: uuid.UUID) -> None:
    """Release the runs waiting for the analysis' cache entry, in every process."""
    opened = await session.scalar(
        update(Analysis)
        .where(Analysis.id == analysis_id, Analysis.cache_opened_at.is_(None))
        .values(cache_opened_at=func.clock_timestamp())
        .returning(Analysis.id)
    )
    if opened is not None:
        await notify(session, [{"kind": CACHE_OPEN, "analysis": str(analysis_id)}])
