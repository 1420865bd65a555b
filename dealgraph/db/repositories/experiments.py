"""Experiments and their requests: the experiment queue (the durable-job pattern) and the writes that store
each request's answer once."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.jobs import Executor, JobQueue
from dealgraph.db.models import AgentRun, Analysis, Experiment, ExperimentRequest, RunStatus
from dealgraph.db.repositories import runs

EXPERIMENT_EVENT = "experiment"
TOPIC_FIELD = "experiment"
"""Progress goes out through the analysis events' fan-out, on a topic of its own: the event only names the
experiment, subscribers read its progress."""

EXPERIMENT_QUEUE = JobQueue(table="experiments", key="id", fifo="created_at", status_type="varchar")
_CLAIM = EXPERIMENT_QUEUE.claim(returning="id, tenant_id, attempts")
_BATCH_REQUESTED = EXPERIMENT_QUEUE.fenced("batch_requested_at = now(), batch_requests = :requests", returning="id")
_BATCH_SUBMITTED = EXPERIMENT_QUEUE.fenced("batch_id = :batch_id", returning="id")
_FINISHED = EXPERIMENT_QUEUE.fenced("status = :status, lease_expires_at = NULL, error_message = :error", returning="id")


@dataclass(frozen=True, slots=True)
class ClaimedExperiment:
    id: uuid.UUID
    tenant_id: uuid.UUID
    attempts: int


async def claim(executor: Executor, *, claimer_id: str, lease_s: float, max_attempts: int) -> ClaimedExperiment | None:
    lease = timedelta(seconds=lease_s)
    claimed = await _CLAIM.rows(executor, claimer=claimer_id, lease=lease, max_attempts=max_attempts, limit=1)
    return ClaimedExperiment(*claimed[0]) if claimed else None


async def record_batch_intent(executor: Executor, experiment_id: uuid.UUID, claimer_id: str, requests: int) -> bool:
    """Before the batch is created, durably: when (by the database's clock) and how many requests it holds, so a
    pool that finds this without a batch id knows to look for the batch at the API. False when the claim was lost
    (then nothing may be sent)."""
    return bool(await _BATCH_REQUESTED.rows(executor, job=experiment_id, claimer=claimer_id, requests=requests))


async def record_batch(executor: Executor, experiment_id: uuid.UUID, claimer_id: str, batch_id: str) -> bool:
    """The batch id, durably, before anything else: a pool that takes over polls it instead of sending again."""
    return bool(await _BATCH_SUBMITTED.rows(executor, job=experiment_id, claimer=claimer_id, batch_id=batch_id))


async def finish(
    executor: Executor, experiment_id: uuid.UUID, claimer_id: str, status: str, error: str | None = None
) -> bool:
    return bool(await _FINISHED.rows(executor, job=experiment_id, claimer=claimer_id, status=status, error=error))


async def fail_exhausted(executor: Executor, max_attempts: int) -> int:
    lost = await EXPERIMENT_QUEUE.lost(executor, max_attempts)
    for job in lost:
        error = f"the pool running this experiment stopped responding {job.attempts} times"
        await EXPERIMENT_QUEUE.give_back(executor, job.job, job.claimer_id, error, max_attempts)
    return len(lost)


async def announce(session: AsyncSession, tenant_id: uuid.UUID, experiment_id: uuid.UUID) -> None:
    """With the transaction's commit: the experiment changed (answers stored, batch sent, ended)."""
    event = {"kind": EXPERIMENT_EVENT, "tenant": str(tenant_id), TOPIC_FIELD: str(experiment_id)}
    await runs.notify(session, [event])


async def state_counts(session: AsyncSession, experiment_id: uuid.UUID) -> dict[str, int]:
    query = (
        select(ExperimentRequest.state, func.count())
        .where(ExperimentRequest.experiment_id == experiment_id)
        .group_by(ExperimentRequest.state)
    )
    return {state: count for state, count in (await session.execute(query)).all()}


async def add(session: AsyncSession, values: Mapping[str, Any], requests: Sequence[Mapping[str, Any]]) -> Experiment:
    experiment = Experiment(**values)
    session.add(experiment)
    await session.flush()
    session.add_all(
        ExperimentRequest(experiment_id=experiment.id, tenant_id=experiment.tenant_id, **request)
        for request in requests
    )
    await session.flush()
    return experiment


async def get(session: AsyncSession, experiment_id: uuid.UUID) -> Experiment | None:
    return await session.get(Experiment, experiment_id)


async def all_experiments(session: AsyncSession) -> list[Experiment]:
    return list(await session.scalars(select(Experiment).order_by(Experiment.created_at.desc())))


async def requests_of(session: AsyncSession, experiment_id: uuid.UUID) -> list[ExperimentRequest]:
    query = select(ExperimentRequest).where(ExperimentRequest.experiment_id == experiment_id)
    return list(await session.scalars(query.order_by(ExperimentRequest.custom_id)))


async def pending(session: AsyncSession, experiment_id: uuid.UUID, sides: Sequence[str]) -> list[ExperimentRequest]:
    query = select(ExperimentRequest).where(
        ExperimentRequest.experiment_id == experiment_id,
        ExperimentRequest.state == "pending",
        ExperimentRequest.side.in_(sides),
    )
    return list(await session.scalars(query.order_by(ExperimentRequest.custom_id)))


async def store(session: AsyncSession, experiment_id: uuid.UUID, custom_id: str, values: Mapping[str, Any]) -> bool:
    """One request's answer, only while it is pending: False when it was already stored (nothing is written)."""
    result = await session.execute(
        update(ExperimentRequest)
        .where(
            ExperimentRequest.experiment_id == experiment_id,
            ExperimentRequest.custom_id == custom_id,
            ExperimentRequest.state == "pending",
        )
        .values(**values, finished_at=func.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def request_cancel(session: AsyncSession, experiment_id: uuid.UUID) -> Experiment | None:
    """Marks the cancel; the experiment as it is now (None when not found or already ended)."""
    return await session.scalar(
        update(Experiment)
        .where(Experiment.id == experiment_id, Experiment.status.in_(("queued", "running")))
        .values(cancel_requested=True, updated_at=func.now())
        .returning(Experiment)
    )


async def mark_promoted(session: AsyncSession, experiment_id: uuid.UUID) -> None:
    await session.execute(update(Experiment).where(Experiment.id == experiment_id).values(promoted_at=func.now()))


async def stored_results(
    session: AsyncSession, transcript_ids: Sequence[uuid.UUID], versions: Mapping[str, uuid.UUID]
) -> dict[tuple[uuid.UUID, str], AgentRun]:
    """Per (call, agent), the latest successful run an analysis already made with that prompt version."""
    query = (
        select(Analysis.transcript_id, AgentRun)
        .join(Analysis, Analysis.id == AgentRun.analysis_id)
        .where(
            Analysis.transcript_id.in_(transcript_ids),
            AgentRun.status == RunStatus.SUCCEEDED,
            AgentRun.prompt_version_id.in_(list(versions.values())),
        )
        .order_by(AgentRun.finished_at.desc())
    )
    found: dict[tuple[uuid.UUID, str], AgentRun] = {}
    for transcript_id, run in (await session.execute(query)).all():
        if versions.get(run.agent) == run.prompt_version_id:
            found.setdefault((transcript_id, run.agent), run)
    return found
