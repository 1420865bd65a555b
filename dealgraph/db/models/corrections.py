"""A person's corrections of agent results: the expected answers that experiments score prompts against.

Keyed by call, agent, what is corrected and which field (not by run), so a correction outlives re-analysis:
every later result of the same call is read beside it. A second correction of the same field replaces the
first, keeping who made it and when.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, String, UniqueConstraint, func
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned


class ResultCorrection(Identified, TenantOwned, Base):
    __tablename__ = "result_corrections"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "transcript_id", "agent", "target", "field", name="uq_result_corrections_target_field"
        ),
    )

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE"), index=True
    )
    agent: Mapped[str] = mapped_column(String(32))
    target: Mapped[str] = mapped_column(String(500))
    """What in the result: a MEDDPICC element, an action item's description, a stakeholder's name."""
    field: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSONB, nullable=True)
    """The expected value: a string, or null (e.g. an action item without an owner)."""
    corrected_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    corrected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
