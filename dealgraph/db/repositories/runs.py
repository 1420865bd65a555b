"""Durable analysis state and the agent-run job queue.

Every state change is written and announced (pg_notify) in the same transaction, so a NOTIFY is
never sent for a change that rolled back, and listeners only hear of committed state. Transactions
that change several runs of one analysis lock the analysis row first (always in that order), which
serialises completions, cancellation and reruns of the same analysis without deadlocks.

Agent runs are a queue of the durable-job pattern (`dealgraph.db.jobs`, `RUN_QUEUE`). The analysis pool's
hot changes (claiming runs, announcing their start, recording a run's end) take a plain asyncpg connection
in autocommit (`Database.autocommit`): each is one statement, the claim and the end PostgreSQL functions
(dealgraph/db/sql/claim_runs.sql, finish_run.sql), so each costs one round trip. The rest take an ORM session.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import timedelta
from typing import Any, NamedTuple, Protocol

import asyncpg
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.jobs import JobQueue
from dealgraph.db.models import AgentRun, Analysis, AnalysisStatus, RunStatus
from dealgraph.db.repositories.tenancy import applied_queue_cap
from dealgraph.errors import TooManyRequests
from dealgraph.fanout import transport as event_transport
from dealgraph.fanout.hub import EVENTS_CHANNEL, RUNS_QUEUED_CHANNEL
from dealgraph.json_text import dumps


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
    payloads = [dumps(event) for event in events]
    if payloads and channel == EVENTS_CHANNEL and (broker := event_transport.active()) is not None:
        broker.publish_after_commit(session.sync_session, payloads)
    elif payloads:
        await session.execute(
            text("SELECT pg_notify(:channel, payload) FROM unnest(CAST(:payloads AS text[])) AS payload"),
            {"channel": channel, "payloads": payloads},
        )


_RUNS_QUEUED = select(func.pg_notify(RUNS_QUEUED_CHANNEL, ""))
"""Wakes every analysis pool: runs were queued."""


async def announce_queued(session: AsyncSession) -> None:
    await session.execute(_RUNS_QUEUED)


QUEUE_FULL_RETRY_AFTER_S = 5
"""What a full queue tells the client to wait: about one agent run's time."""


@dataclass(frozen=True, slots=True)
class StartedAnalysis:
    analysis: Analysis
    created: bool


class ReusableRun(NamedTuple):
    """An earlier succeeded run of the same agent, prompt version (hence model) and transcript content."""

    id: uuid.UUID
    result: dict[str, Any] | None
    metadata: dict[str, Any] | None
    model: str | None
    simulated: bool


class PlannedRun(NamedTuple):
    """One agent of a new analysis: the version its label points at (None: no such version), a result to reuse."""

    agent: str
    prompt_version_id: uuid.UUID | None
    reuse: ReusableRun | None


class CallPlan(NamedTuple):
    """What starting an analysis of a transcript reads: the transcript's tenant and deal, and a plan per agent."""

    tenant_id: uuid.UUID
    deal_id: uuid.UUID
    runs: list[PlannedRun]


_START_LOCK = 1684365677
"""Advisory lock class of a tenant's analysis starts (the key is the tenant's hash): starts of one tenant are
serialised from the plan to the commit, so the queued runs `start_analysis` counts are all there are and the
tenant's cap (`max_queued_runs`) is exact. Starts of different tenants do not wait for each other."""

_PLAN = text(
    """
    SELECT t.tenant_id, t.deal_id, pg_advisory_xact_lock(:start_lock, hashtext(CAST(t.tenant_id AS text))), ARRAY(
        SELECT ROW(agent.name, version.id, reused.id, reused.result, reused.metadata, reused.model, reused.simulated)
        FROM unnest(CAST(:agents AS text[])) WITH ORDINALITY AS agent(name, position)
        LEFT JOIN LATERAL (
            SELECT label.version_id AS id
            FROM prompt_templates template JOIN prompt_labels label ON label.template_id = template.id
            WHERE template.agent = agent.name AND label.name = :label
            ORDER BY template.tenant_id IS NULL  -- the tenant's own template first, else the global one
            LIMIT 1
        ) AS version ON true
        LEFT JOIN LATERAL (
            SELECT run.id, run.result, run.metadata, run.model, run.simulated
            FROM agent_runs run
            JOIN analyses analysis ON analysis.id = run.analysis_id
            JOIN transcripts same ON same.id = analysis.transcript_id
            WHERE :reuse AND run.agent = agent.name AND run.prompt_version_id = version.id
              AND run.status = 'succeeded' AND same.content_hash = t.content_hash
            ORDER BY run.finished_at DESC
            LIMIT 1
        ) AS reused ON true
        ORDER BY agent.position
    )
    FROM transcripts t WHERE t.id = :transcript
    """
)


async def plan_analysis(
    session: AsyncSession, transcript_id: uuid.UUID, agents: Sequence[str], label: str, *, reuse: bool
) -> CallPlan | None:
    """In one statement: per agent, the version `label` points at and (with `reuse`) the latest result to reuse.

    None when the transcript does not exist; row-level security limits every read to the tenant's rows and the
    global templates. It also takes the tenant's start lock until the transaction ends (see `_START_LOCK`)."""
    parameters = {
        "transcript": transcript_id,
        "agents": list(agents),
        "label": label,
        "reuse": reuse,
        "start_lock": _START_LOCK,
    }
    row = (await session.execute(_PLAN, parameters)).first()
    if row is None:
        return None
    tenant_id, deal_id, _locked, planned = row
    return CallPlan(
        tenant_id,
        deal_id,
        [
            PlannedRun(agent, version_id, ReusableRun(*reused) if reused[0] is not None else None)
            for agent, version_id, *reused in planned
        ],
    )


def _reused_metadata(source: ReusableRun) -> dict[str, Any]:
    """The original run's provenance; no request was made this time (tokens stay 0, latency 0)."""
    return {**(source.metadata or {}), "attempts": 0, "reused_from_run_id": str(source.id)}


class _NewRun(NamedTuple):
    """A run to insert: queued, or already succeeded with an earlier run's result (`result` not None)."""

    id: uuid.UUID
    agent: str
    prompt_version_id: uuid.UUID
    result: str | None
    metadata: str | None
    model: str | None
    simulated: bool


def _new_run(planned: PlannedRun) -> _NewRun:
    reuse = planned.reuse
    assert planned.prompt_version_id is not None, "a run is planned only for an agent whose version resolved"
    if reuse is None:
        return _NewRun(uuid.uuid4(), planned.agent, planned.prompt_version_id, None, None, None, False)
    return _NewRun(
        uuid.uuid4(),
        planned.agent,
        planned.prompt_version_id,
        dumps(reuse.result),
        dumps(_reused_metadata(reuse)),
        reuse.model,
        reuse.simulated,
    )


class _WrittenRun(NamedTuple):
    """What an event names of a run just inserted (see `RunKey`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    analysis_id: uuid.UUID
    agent: str
    seq: int


_START = text(
    """
    WITH analysis AS (
        INSERT INTO analyses (
            tenant_id, transcript_id, deal_id, requested_by_id, status, agents, prompt_label, idempotency_key
        )
        VALUES (
            CAST(:tenant AS uuid), CAST(:transcript AS uuid), CAST(:deal AS uuid), CAST(:requested_by AS uuid),
            'queued', CAST(:agents AS varchar(32)[]), :prompt_label, :idempotency_key
        )
        ON CONFLICT ON CONSTRAINT uq_analyses_idempotency_key DO NOTHING
        RETURNING *
    ), written AS (
        INSERT INTO agent_runs (
            id, tenant_id, analysis_id, agent, prompt_version_id, status, result, metadata, model, simulated,
            latency_ms, started_at, finished_at, seq
        )
        SELECT run.id, analysis.tenant_id, analysis.id, run.agent, run.version,
               CAST(CASE WHEN run.result IS NULL THEN 'queued' ELSE 'succeeded' END AS agent_run_status),
               CAST(run.result AS jsonb), CAST(run.metadata AS jsonb), run.model, run.simulated,
               CASE WHEN run.result IS NOT NULL THEN 0 END,
               CASE WHEN run.result IS NOT NULL THEN now() END,
               CASE WHEN run.result IS NOT NULL THEN now() END,
               CASE WHEN run.result IS NOT NULL THEN 1 ELSE 0 END
        FROM analysis, unnest(
            CAST(:id AS uuid[]), CAST(:agent AS text[]), CAST(:prompt_version_id AS uuid[]), CAST(:result AS text[]),
            CAST(:metadata AS text[]), CAST(:model AS text[]), CAST(:simulated AS boolean[])
        ) AS run(id, agent, version, result, metadata, model, simulated)
    )
    SELECT analysis.*, (SELECT pg_notify(:channel, '') WHERE :queued) AS woken,
           (SELECT count(*) FROM agent_runs WHERE tenant_id = analysis.tenant_id AND status = 'queued') AS queued_before,
           (SELECT max_queued_runs FROM tenants WHERE id = analysis.tenant_id) AS tenant_cap
    FROM analysis
    """
)
"""A new analysis and all its runs in one statement of fixed text (built per call, the ORM's INSERT and
a multi-row VALUES were compiled anew each time, a fifth of the server's CPU); it also wakes the analysis
pools when any run is queued. A reused run is inserted as succeeded, started and finished now, at seq 1. No row:
the idempotency key was used before, and nothing is written (the runs are inserted from the analysis' row).
`queued_before`: the tenant's runs queued before this analysis (a statement does not see its own inserts);
`tenant_cap`: the cap the tenant's admins set on them, if any."""


async def start_analysis(
    session: AsyncSession,
    *,
    transcript_id: uuid.UUID,
    call: CallPlan,
    requested_by: uuid.UUID,
    prompt_label: str,
    idempotency_key: str | None,
    max_queued_runs: int = 0,
) -> StartedAnalysis:
    """Raises TooManyRequests when the new runs would take the tenant's queue beyond its cap (`applied_queue_cap` of
    the server's `max_queued_runs`, 0: no cap, and the tenant's own); the caller's transaction then rolls back, so
    nothing of the analysis is left. Call within the transaction of `plan_analysis`, whose lock makes the count
    exact."""
    new_runs = [_new_run(planned) for planned in call.runs]
    new_queued = sum(run.result is None for run in new_runs)
    queued = new_queued > 0
    parameters = {
        "tenant": call.tenant_id,
        "transcript": transcript_id,
        "deal": call.deal_id,
        "requested_by": requested_by,
        "agents": [run.agent for run in new_runs],
        "prompt_label": prompt_label,
        "idempotency_key": idempotency_key,
        **dict(zip(_NewRun._fields, zip(*new_runs, strict=True), strict=True)),  # a list per column
        "channel": RUNS_QUEUED_CHANNEL,
        "queued": queued,
    }
    row = (await session.execute(_START, parameters)).first()
    if row is None:  # the idempotency key was used before: that analysis is the answer
        existing = await session.scalar(select(Analysis).where(Analysis.idempotency_key == idempotency_key))
        assert existing is not None
        return StartedAnalysis(existing, created=False)
    columns = row._asdict()
    del columns["woken"]
    queued_before = columns.pop("queued_before")
    cap = applied_queue_cap(max_queued_runs, columns.pop("tenant_cap"))
    if cap is not None and queued and queued_before + new_queued > cap:
        raise TooManyRequests(
            f"This tenant's analysis queue is full: {queued_before} agent runs are waiting to start, at most "
            f"{cap}, and this analysis would add {new_queued}. Retry once some have started.",
            retry_after_s=QUEUE_FULL_RETRY_AFTER_S,
        )
    analysis = Analysis(**{**columns, "status": AnalysisStatus(columns["status"])})  # built, not loaded: no flush
    events = [
        run_event(_WrittenRun(run.id, call.tenant_id, analysis.id, run.agent, 1), "succeeded", call.deal_id)
        for run in new_runs
        if run.result is not None
    ]
    if not queued and (finished := await _settle(session, analysis.id, call.tenant_id, call.deal_id)):
        events.append(finished)  # every result was reused: it is finished already
        analysis = await session.get_one(Analysis, analysis.id)
    await notify(session, events)
    return StartedAnalysis(analysis, created=True)


RUN_QUEUE = JobQueue(table="agent_runs", key="id", fifo="queued_at", status_type="agent_run_status")
"""Claimed and finished by PostgreSQL functions (one round trip each); renewed, handed back and swept here."""


@dataclass(frozen=True, slots=True)
class ClaimedRun:
    """A run as an analysis pool holds it: what executing it and announcing its changes need (a `RunKey`)."""

    id: uuid.UUID
    tenant_id: uuid.UUID
    analysis_id: uuid.UUID
    agent: str
    prompt_version_id: uuid.UUID
    seq: int
    attempts: int
    deal_id: uuid.UUID
    transcript_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class Claim:
    runs: list[ClaimedRun]
    more_waiting: bool
    """The claim took all the room it had: claimable runs may be left, so a freed slot should claim again.
    False when fewer runs than the room were claimable, so a freed slot need not ask until runs are queued."""


_CLAIM = "SELECT room, claimed FROM dealgraph_claim_runs($1, $2, $3, $4, $5)"


async def claim_runs(
    connection: asyncpg.Connection, *, claimer_id: str, limit: int, cluster_cap: int, lease_s: float, max_attempts: int
) -> Claim:
    """Claim queued runs and runs whose pool died (lease expired), within the cluster-wide cap.

    One statement (dealgraph/db/sql/claim_runs.sql): the claims of all pools are serialised by an advisory
    lock, so the cap is exact. Nothing is announced yet: see `start_claimed`."""
    room, claimed = await connection.fetchrow(
        _CLAIM, claimer_id, limit, cluster_cap, timedelta(seconds=lease_s), max_attempts
    )
    return Claim([ClaimedRun(*run) for run in claimed], more_waiting=room <= 0 or len(claimed) == room)


_START_CLAIMED = """
    WITH marked AS (
        UPDATE analyses SET status = 'running', started_at = coalesce(started_at, now())
        WHERE id = ANY($1::uuid[]) AND status = 'queued'
    )
    SELECT pg_notify($2, payload) FROM unnest($3::text[]) AS payload
    """


async def start_claimed(connection: asyncpg.Connection, claimed: Sequence[ClaimedRun]) -> None:
    """Mark the claimed runs' analyses running and announce each run's start, in one statement.

    Not part of the claim, so a claim never waits on an analysis lock (see module docstring). The runs begin
    meanwhile; each waits for this before its progress or result goes out, so `started` always comes first."""
    started = [dumps(run_event(run, "started", run.deal_id, attempt=run.attempts)) for run in claimed]
    broker = event_transport.active()
    analyses = list({run.analysis_id for run in claimed})
    await connection.execute(_START_CLAIMED, analyses, EVENTS_CHANNEL, [] if broker else started)
    if broker is not None:
        broker.publish_committed(started)


async def _lock_analysis(session: AsyncSession, analysis_id: uuid.UUID) -> Analysis | None:
    return await session.scalar(select(Analysis).where(Analysis.id == analysis_id).with_for_update())


_SETTLE = text("SELECT dealgraph_settle_analysis(:analysis)")
"""Finishes an analysis none of whose runs is left to do: cancelled if any run was, else succeeded or failed
if all were, else partial (dealgraph/db/sql/settle_analysis.sql; `finish_run` uses it too)."""


def _finished_event(tenant_id: uuid.UUID, analysis_id: uuid.UUID, deal_id: uuid.UUID) -> dict[str, Any]:
    """An analysis' `finished` event, but for its `status`."""
    return {"kind": "finished", "tenant": str(tenant_id), "analysis": str(analysis_id), "deal": str(deal_id)}


async def _settle(
    session: AsyncSession, analysis_id: uuid.UUID, tenant_id: uuid.UUID, deal_id: uuid.UUID
) -> dict[str, Any] | None:
    """Finish the analysis if none of its runs is left to do; returns the `finished` event then.

    The caller holds the analysis lock, so exactly one of the changes ending its runs together settles it."""
    settled = await session.scalar(_SETTLE, {"analysis": analysis_id})
    if settled is None:
        return None
    return {**_finished_event(tenant_id, analysis_id, deal_id), "status": AnalysisStatus(settled).value}


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


_FINISH = "SELECT seq, settled FROM dealgraph_finish_run($1, $2, $3, $4, $5, $6, $7)"


async def finish_run(connection: asyncpg.Connection, run: ClaimedRun, claimer_id: str, outcome: Outcome) -> bool:
    """Record a run's end, and its analysis' if it was the last; False (nothing written) if the run is no
    longer this claimer's (the fence).

    One statement (dealgraph/db/sql/finish_run.sql), the hottest write there is: it locks the analysis, records the end,
    settles the analysis and, with the NOTIFY transport, sends both events. The events are built here and
    completed there with what only the database knows (the run's `seq`, the analysis' status)."""
    ended = run_event(run, outcome.status.value, run.deal_id)
    finished = _finished_event(run.tenant_id, run.analysis_id, run.deal_id)
    broker = event_transport.active()
    seq, settled = await connection.fetchrow(
        _FINISH,
        run.id,
        run.analysis_id,
        claimer_id,
        dumps({field.name: getattr(outcome, field.name) for field in fields(outcome)}),
        None if broker else EVENTS_CHANNEL,
        dumps(ended),
        dumps(finished),
    )
    if seq is None:
        return False
    if broker is not None:
        payloads = [{**ended, "seq": seq}] + ([{**finished, "status": settled}] if settled else [])
        broker.publish_committed([dumps(payload) for payload in payloads])
    return True


_CLAIMED_RUNS = """
    SELECT r.id, r.tenant_id, r.analysis_id, r.agent, r.prompt_version_id, r.seq, r.attempts, a.deal_id,
           a.transcript_id
    FROM agent_runs r JOIN analyses a ON a.id = r.analysis_id
    WHERE r.id = ANY($1::uuid[])
    """


async def fail_exhausted_runs(connection: asyncpg.Connection, max_attempts: int) -> int:
    """Runs whose pool died on every one of their attempts fail (WORKER_LOST), instead of being retried forever.

    No row lock here: `finish_run` locks the analysis before the run (the order every writer uses) and
    is fenced on the claimer the run was found with, so a race changes nothing.
    """
    lost = {job.job: job.claimer_id for job in await RUN_QUEUE.lost(connection, max_attempts)}
    if not lost:
        return 0
    for columns in await connection.fetch(_CLAIMED_RUNS, list(lost)):
        run = ClaimedRun(*columns)
        outcome = Outcome(
            RunStatus.FAILED,
            error_code="WORKER_LOST",
            error_message=f"the analysis pool executing this run stopped responding {run.attempts} times",
        )
        await finish_run(connection, run, lost[run.id], outcome)
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


async def release_runs(session: AsyncSession, claimer_id: str) -> int:
    """On graceful shutdown, hand this pool's runs back to the queue (and wake the other pools)."""
    count = await RUN_QUEUE.release(session, claimer_id)
    if count:
        await announce_queued(session)
    return count


CACHE_OPEN = "cache_open"
"""Event kind on the events channel; it carries no tenant, so GraphQL subscriptions never see it."""


async def take_cache_lead(session: AsyncSession, analysis_id: uuid.UUID, run_id: uuid.UUID) -> bool:
    """The first run of an analysis to ask leads. The lead passes on when its run is no longer running
    under a live lease (it failed, was cancelled, or its pool died), so no later run waits for a dead
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
