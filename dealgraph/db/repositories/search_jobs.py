"""The embedding queue: one job per transcript, claimed with FOR UPDATE SKIP LOCKED under a lease.

Same pattern as agent runs: a job whose worker died (lease expired while running) is claimable again,
and every write after the claim is fenced on `worker_id`, so a worker that lost its lease cannot
overwrite the work of the one that took over.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

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


async def claim(session: AsyncSession, *, worker_id: str, lease_s: float, max_attempts: int) -> ClaimedJob | None:
    """Claim the oldest queued job, or one whose worker's lease ran out (the worker died)."""
    candidate = (
        select(SearchJob.transcript_id)
        .where(
            (SearchJob.status == QUEUED) | ((SearchJob.status == RUNNING) & (SearchJob.lease_expires_at < func.now())),
            SearchJob.attempts < max_attempts,
        )
        .order_by(SearchJob.created_at)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    row = (
        await session.execute(
            update(SearchJob)
            .where(SearchJob.transcript_id == candidate)
            .values(
                status=RUNNING,
                worker_id=worker_id,
                attempts=SearchJob.attempts + 1,
                lease_expires_at=func.now() + timedelta(seconds=lease_s),
                updated_at=func.now(),
            )
            .returning(SearchJob.transcript_id, SearchJob.tenant_id, SearchJob.attempts)
        )
    ).first()
    return ClaimedJob(*row) if row else None


async def finish(session: AsyncSession, job: ClaimedJob, worker_id: str, model: str) -> bool:
    """Mark ready, only if this worker still holds the job; False means the lease was lost (roll back)."""
    result = await session.execute(
        update(SearchJob)
        .where(
            SearchJob.transcript_id == job.transcript_id, SearchJob.worker_id == worker_id, SearchJob.status == RUNNING
        )
        .values(status=READY, model=model, lease_expires_at=None, error_message=None, updated_at=func.now())
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def give_back(session: AsyncSession, job: ClaimedJob, worker_id: str, error: str, max_attempts: int) -> None:
    """A failed attempt: queue it again, or mark it failed once the attempts are used up."""
    await session.execute(
        update(SearchJob)
        .where(
            SearchJob.transcript_id == job.transcript_id, SearchJob.worker_id == worker_id, SearchJob.status == RUNNING
        )
        .values(
            status=FAILED if job.attempts >= max_attempts else QUEUED,
            error_message=error[:2000],
            worker_id=None,
            lease_expires_at=None,
            updated_at=func.now(),
        )
    )


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
