"""Analyses of a transcript and their agent runs: the durable state of every execution.

`agent_runs` is also the job queue: analysis pools claim rows with FOR UPDATE SKIP LOCKED and hold them by a
lease. `seq` increases on every state change, so a subscriber that reads a snapshot and then live
events can drop exactly the events its snapshot already covered.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped


class AnalysisStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


class RunStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


def _enum(cls: type[enum.StrEnum], name: str) -> Enum:
    return Enum(cls, name=name, values_callable=lambda members: [m.value for m in members])


class Analysis(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "analyses"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key", name="uq_analyses_idempotency_key"),
        Index("ix_analyses_transcript_created", "transcript_id", "created_at"),
        Index("ix_analyses_deal_created", "deal_id", "created_at"),
    )

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE")
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"))
    requested_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    status: Mapped[AnalysisStatus] = mapped_column(_enum(AnalysisStatus, "analysis_status"))
    agents: Mapped[list[str]] = mapped_column(ARRAY(String(32)))
    prompt_label: Mapped[str] = mapped_column(String(32))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    cache_leader_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    """The run that writes the transcript's prompt-cache entry first (see dealgraph.runs.cache_sharing)."""
    cache_opened_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """When that entry became readable (the leader's response started); the other runs wait for it."""


class AgentRun(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "agent_runs"
    __table_args__ = (
        UniqueConstraint("analysis_id", "agent", name="uq_agent_runs_analysis_agent"),
        Index(
            "ix_agent_runs_claimable",
            "status",
            "queued_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    analysis_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("analyses.id", ondelete="CASCADE"))
    agent: Mapped[str] = mapped_column(String(32))
    prompt_version_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_versions.id", ondelete="RESTRICT"), index=True
    )
    status: Mapped[RunStatus] = mapped_column(_enum(RunStatus, "agent_run_status"))
    seq: Mapped[int] = mapped_column(Integer, server_default="0")
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    queued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_code: Mapped[str | None] = mapped_column(String(40))
    error_message: Mapped[str | None] = mapped_column(Text)
    model: Mapped[str | None] = mapped_column(String(100))
    input_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    output_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cache_read_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    cache_write_tokens: Mapped[int] = mapped_column(Integer, server_default="0")
    latency_ms: Mapped[int | None] = mapped_column(Integer)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONB)
    simulated: Mapped[bool] = mapped_column(Boolean, server_default="false")
