"""The embedding queue: one job per transcript, a queue of the durable-job pattern (`dealgraph.db.jobs`).

A job whose embedding pool died (lease lapsed while running) is claimable again, and every write after
the claim is fenced on the claimer id, so a pool that lost its lease cannot overwrite the work of the one
that took over. Unlike agent runs, a failed attempt is retried (`give_back`) and claims are one at a time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.jobs import Executor, JobQueue
from dealgraph.db.models import SearchJob

QUEUED, RUNNING, READY, FAILED = "queued", "running", "ready", "failed"


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    transcript_id: uuid.UUID
    tenant_id: uuid.UUID
    attempts: int


async def status_of(session: AsyncSession, transcript_id: uuid.UUID) -> tuple[str, str | None] | None:
    """The transcript's job status and the model it was (last) embedded with; None when it has no job."""
    job = (
        await session.execute(select(SearchJob.status, SearchJob.model).where(SearchJob.transcript_id == transcript_id))
    ).first()
    return None if job is None else (job.status, job.model)


async def enqueue(session: AsyncSession, tenant_id: uuid.UUID, transcript_ids: list[uuid.UUID]) -> None:
    """(Re)queue transcripts; an already queued or running job is left alone, a finished one starts over."""
    if not transcript_ids:
        return
    statement = insert(SearchJob).values([{"tenant_id": tenant_id, "transcript_id": t} for t in transcript_ids])
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[SearchJob.transcript_id],
            set_={"status": QUEUED, "attempts": 0, "worker_id": None, "lease_expires_at": None, "error_message": None},
            where=SearchJob.status.in_((READY, FAILED)),
        )
    )


EMBEDDING_QUEUE = JobQueue(
    table="transcript_search_jobs", key="transcript_id", fifo="created_at", status_type="varchar"
)
_CLAIM = EMBEDDING_QUEUE.claim(returning="transcript_id, tenant_id, attempts")
_FINISH = EMBEDDING_QUEUE.fenced(
    "status = 'ready', model = :model, lease_expires_at = NULL, error_message = NULL", returning="transcript_id"
)


async def claim(executor: Executor, *, claimer_id: str, lease_s: float, max_attempts: int) -> ClaimedJob | None:
    """Claim the oldest queued job, or one whose pool's lease ran out (the pool died)."""
    lease = timedelta(seconds=lease_s)
    claimed = await _CLAIM.rows(executor, claimer=claimer_id, lease=lease, max_attempts=max_attempts, limit=1)
    return ClaimedJob(*claimed[0]) if claimed else None


async def finish(session: AsyncSession, job: ClaimedJob, claimer_id: str, model: str) -> bool:
    """Mark ready, in the transaction that stored the vectors, only if this pool still holds the job; False
    means the lease was lost (roll back)."""
    return bool(await _FINISH.rows(session, job=job.transcript_id, claimer=claimer_id, model=model))


async def give_back(executor: Executor, job: ClaimedJob, claimer_id: str, error: str, max_attempts: int) -> None:
    """A failed attempt: queue it again, or mark it failed once the attempts are used up."""
    await EMBEDDING_QUEUE.give_back(executor, job.transcript_id, claimer_id, error, max_attempts)


async def fail_exhausted(executor: Executor, max_attempts: int) -> int:
    """Jobs whose pool died on their last attempt fail, instead of staying `running` forever."""
    lost = await EMBEDDING_QUEUE.lost(executor, max_attempts)
    for job in lost:
        error = f"the embedding pool executing this job stopped responding {job.attempts} times"
        await EMBEDDING_QUEUE.give_back(executor, job.job, job.claimer_id, error, max_attempts)
    return len(lost)


async def requeue_stale(session: AsyncSession, model: str, limit: int) -> int:
    """Queue up to `limit` transcripts not yet embedded with `model`; `dealgraph reembed` calls it in batches."""
    stale = (
        select(SearchJob.transcript_id)
        .where(SearchJob.status.in_((READY, FAILED)), SearchJob.model.is_distinct_from(model))
        .limit(limit)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    result = await session.execute(
        update(SearchJob)
        .where(SearchJob.transcript_id.in_(stale))
        .values(
            status=QUEUED, attempts=0, worker_id=None, lease_expires_at=None, error_message=None, updated_at=func.now()
        )
    )
    return int(result.rowcount)  # type: ignore[attr-defined]
