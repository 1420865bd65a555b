"""The durable queue that embeds each transcript for semantic search, one row per transcript.

Vectors themselves live in `transcript_windows`, which exists only where pgvector does, so it is not
mapped here (the model metadata must match every server); see `dealgraph.db.repositories.vectors`.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, TenantOwned, Timestamped


class SearchJob(Timestamped, TenantOwned, Base):
    __tablename__ = "transcript_search_jobs"
    __table_args__ = (
        Index(
            "ix_transcript_search_jobs_claimable",
            "status",
            "created_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
    )

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default="queued")  # queued | running | ready | failed
    model: Mapped[str | None] = mapped_column(String(100))  # the model the stored windows were embedded with
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)
