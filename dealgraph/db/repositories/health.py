"""Deal health: the per-deal job rows of the health pool (`dealgraph.db.jobs`' pattern), what they store, and the
tenant's health settings.

Recomputes are requested by database triggers (the 0015 migration): they bump the row's `generation` and queue
it. A pool stores its result fenced on its claim and on the generation it read: if a newer request came while
it worked, the row is queued again instead of marked done.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.jobs import Executor, JobQueue, Statement
from dealgraph.db.models import DealHealth, HealthSettings, Transcript
from dealgraph.json_text import dumps

HEALTH_QUEUE = JobQueue(table="deal_health", key="deal_id", fifo="requested_at", status_type="varchar")
_CLAIM = HEALTH_QUEUE.claim(returning="deal_id, tenant_id, attempts, generation")
_STORE = HEALTH_QUEUE.fenced(
    "status = CASE WHEN generation = :generation THEN 'done' ELSE 'queued' END,"
    " attempts = CASE WHEN generation = :generation THEN attempts ELSE 0 END,"
    " worker_id = NULL, lease_expires_at = NULL, error_message = NULL,"
    " health = :health, health_rank = :rank, warnings = CAST(:warnings AS jsonb),"
    " warning_codes = CAST(:codes AS varchar[]), next_step = CAST(:next_step AS jsonb), computed_at = now(),"
    " recheck_at = :recheck_at, version = version + CAST(:changed AS integer)",
    returning="version",
)
_DUE = Statement(
    text(
        "UPDATE deal_health SET status = 'queued', generation = generation + 1, requested_at = now(), attempts = 0,"
        " updated_at = now() WHERE status = 'done' AND recheck_at <= now() RETURNING deal_id"
    )
)


@dataclass(frozen=True, slots=True)
class ClaimedHealth:
    deal_id: uuid.UUID
    tenant_id: uuid.UUID
    attempts: int
    generation: int


@dataclass(frozen=True, slots=True)
class StoredHealth:
    health: str
    rank: int
    warnings: list[dict[str, Any]]
    codes: list[str]
    next_step: dict[str, Any] | None
    recheck_at: datetime | None


async def claim(executor: Executor, *, claimer_id: str, lease_s: float, max_attempts: int) -> ClaimedHealth | None:
    """The deal whose health was requested first, or one whose pool's lease ran out (the pool died)."""
    lease = timedelta(seconds=lease_s)
    claimed = await _CLAIM.rows(executor, claimer=claimer_id, lease=lease, max_attempts=max_attempts, limit=1)
    return ClaimedHealth(*claimed[0]) if claimed else None


async def store(
    session: AsyncSession, job: ClaimedHealth, claimer_id: str, health: StoredHealth, changed: bool
) -> int | None:
    """The health computed for `job`, fenced: the row's new version, None when the job is no longer this pool's."""
    written = await _STORE.rows(
        session,
        job=job.deal_id,
        claimer=claimer_id,
        generation=job.generation,
        health=health.health,
        rank=health.rank,
        warnings=dumps(health.warnings),
        codes=health.codes,
        next_step=None if health.next_step is None else dumps(health.next_step),
        recheck_at=health.recheck_at,
        changed=changed,
    )
    return int(written[0][0]) if written else None


async def give_back(executor: Executor, job: ClaimedHealth, claimer_id: str, error: str, max_attempts: int) -> None:
    await HEALTH_QUEUE.give_back(executor, job.deal_id, claimer_id, error, max_attempts)


async def fail_exhausted(executor: Executor, max_attempts: int) -> int:
    """Fail the jobs whose pool died on their last attempt; how many."""
    lost = await HEALTH_QUEUE.lost(executor, max_attempts)
    for job in lost:
        await HEALTH_QUEUE.give_back(executor, job.job, job.claimer_id, "the health pool was lost", max_attempts)
    return len(lost)


async def queue_due(executor: Executor) -> int:
    """Queue the deals whose health time alone changes now (a day-based warning starts or ends); how many."""
    return len(await _DUE.rows(executor))


async def get(session: AsyncSession, deal_id: uuid.UUID) -> DealHealth | None:
    return await session.get(DealHealth, deal_id)


async def of_deals(session: AsyncSession, deal_ids: Sequence[uuid.UUID]) -> Sequence[DealHealth]:
    return list(await session.scalars(select(DealHealth).where(DealHealth.deal_id.in_(deal_ids))))


async def calls_of_deal(session: AsyncSession, deal_id: uuid.UUID) -> Sequence[Any]:
    """(transcript id, occurred at) of the deal's calls, newest first."""
    query = (
        select(Transcript.id, Transcript.occurred_at)
        .where(Transcript.deal_id == deal_id)
        .order_by(Transcript.occurred_at.desc(), Transcript.id)
    )
    return (await session.execute(query)).all()


async def settings(session: AsyncSession) -> dict[str, Any]:
    """The scope's tenant's saved settings ({} when never saved)."""
    saved = await session.scalar(select(HealthSettings.settings))
    return dict(saved or {})


async def save_settings(session: AsyncSession, tenant_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Saving requests every deal's health again (a trigger)."""
    statement = insert(HealthSettings).values(tenant_id=tenant_id, settings=values)
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[HealthSettings.tenant_id], set_={"settings": values, "updated_at": text("now()")}
        )
    )
