"""Prompt experiments: a candidate prompt version run on a dataset version's calls, beside a baseline.

An experiment is a job of the durable-job pattern (`dealgraph.db.jobs`): the pool that holds its lease sends
its requests (one Message Batch, or one by one) and stores each answer. Every request is a row of its own,
keyed by the `custom_id` the batch matches results by, and is written once: a result stored is never
stored (or billed) again, whichever pool reads it.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped


class RequestSide(enum.StrEnum):
    """Whose request a row is: an answer of the baseline or the candidate, or the pairwise judge's comparing the
    two answers of its call and agent."""

    BASELINE = "baseline"
    CANDIDATE = "candidate"
    JUDGE = "judge"


class Experiment(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "experiments"
    __table_args__ = (
        Index(
            "ix_experiments_claimable", "status", "created_at", postgresql_where=text("status IN ('queued', 'running')")
        ),
    )

    dataset_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("datasets.id", ondelete="CASCADE"))
    dataset_version: Mapped[int] = mapped_column(Integer)
    agents: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    baseline: Mapped[dict[str, Any]] = mapped_column(JSONB)
    """{"name": label or "version n", "versions": {agent: prompt version id}}"""
    candidate: Mapped[dict[str, Any]] = mapped_column(JSONB)
    mode: Mapped[str] = mapped_column(String(8))  # BATCH | LIVE
    status: Mapped[str] = mapped_column(String(16), server_default="queued")
    """queued | running (a pool holds it) | succeeded | failed | canceled"""
    batch_id: Mapped[str | None] = mapped_column(String(100))
    batch_requested_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When a pool was about to create the batch: stored before the create, so a pool that finds it without
    `batch_id` looks for the batch at the API instead of creating (and paying for) a second one."""
    batch_requests: Mapped[int | None] = mapped_column(Integer)
    """How many requests that batch was to hold."""
    cancel_requested: Mapped[bool] = mapped_column(Boolean, server_default="false")
    judge_version_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    """The pairwise judge's version comparing each call's two answers (its requests: side `judge`); None: none
    does. Like a request's `prompt_version_id`, a plain reference: versions are never deleted on their own."""
    estimate: Mapped[dict[str, Any]] = mapped_column(JSONB)
    budget_usd: Mapped[float] = mapped_column(Float)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)


class ExperimentRequest(Identified, TenantOwned, Base):
    __tablename__ = "experiment_requests"
    __table_args__ = (UniqueConstraint("experiment_id", "custom_id", name="uq_experiment_requests_custom_id"),)

    experiment_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("experiments.id", ondelete="CASCADE"), index=True
    )
    custom_id: Mapped[str] = mapped_column(String(64))
    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE")
    )
    agent: Mapped[str] = mapped_column(String(32))
    side: Mapped[str] = mapped_column(String(10))  # a RequestSide
    prompt_version_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    state: Mapped[str] = mapped_column(String(16), server_default="pending")
    """pending | succeeded | failed | canceled | stored (a baseline result an earlier analysis already had) |
    skipped (a judge request not sent: one of the answers it would compare failed)"""
    shown_first: Mapped[str | None] = mapped_column(String(10))
    """A judge request's: the side whose answer it was shown first, as answer A."""
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    evidence_verified: Mapped[int] = mapped_column(Integer, server_default="0")
    evidence_total: Mapped[int] = mapped_column(Integer, server_default="0")
    input_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    thinking_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cost_usd: Mapped[float] = mapped_column(Float, server_default="0")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
