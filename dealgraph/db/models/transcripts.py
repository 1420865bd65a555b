"""Call transcripts as uploaded (original text kept verbatim) and their parsed utterances.

Utterances live in their own table so full-text search can rank and timestamp the exact
utterance that matched, with a GIN index over a stored tsvector.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import ARRAY, TSVECTOR, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped

SEARCH_CONFIG = "english"


class Transcript(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "transcripts"
    __table_args__ = (
        UniqueConstraint("deal_id", "content_hash", name="uq_transcripts_deal_content"),
        Index("ix_transcripts_tenant_occurred", "tenant_id", "occurred_at", "id"),
        Index("ix_transcripts_deal_occurred", "deal_id", "occurred_at", "id"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(300))
    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    source_format: Mapped[str] = mapped_column(String(16))
    original_text: Mapped[str] = mapped_column(Text)
    participants: Mapped[list[str]] = mapped_column(ARRAY(String(200)))
    content_hash: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    utterance_count: Mapped[int] = mapped_column(Integer)


class TranscriptUtterance(TenantOwned, Base):
    __tablename__ = "transcript_utterances"
    __table_args__ = (Index("ix_transcript_utterances_search", "search_vector", postgresql_using="gin"),)

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    speaker: Mapped[str] = mapped_column(String(200))
    start_seconds: Mapped[float | None] = mapped_column(Float)
    end_seconds: Mapped[float | None] = mapped_column(Float)
    text: Mapped[str] = mapped_column(Text)
    search_vector: Mapped[str] = mapped_column(
        TSVECTOR,
        Computed(f"to_tsvector('{SEARCH_CONFIG}'::regconfig, speaker || ' ' || text)", persisted=True),
    )
