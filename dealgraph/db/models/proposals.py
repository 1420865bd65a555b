"""Proposed CRM updates: a value an analysis suggests for one of a deal's fields, and every decision on it.

A proposal keeps the deal's value of its field when it was made (`current`), so accepting it after someone
changed the field is refused instead of overwriting their change. Values are JSON: a date or a decimal as its
ISO or plain string, a stage by its value, the next step as text, a follow-up email as {subject, body}.
`proposal_decisions` is the audit: who decided (null: dealgraph, superseding), when, and from what to what.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Float, ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped


class ProposalField(enum.StrEnum):
    """What a proposal is for: a deal column (`deal_column`), or a follow-up email draft, which changes nothing."""

    CLOSE_DATE = "close_date"
    AMOUNT = "amount"
    NEXT_STEP = "next_step"
    STAGE = "stage"
    FOLLOW_UP_EMAIL = "follow_up_email"

    @property
    def deal_column(self) -> str | None:
        return None if self is ProposalField.FOLLOW_UP_EMAIL else self.value


class ProposalStatus(enum.StrEnum):
    SUGGESTED = "suggested"
    ACCEPTED = "accepted"
    EDITED = "edited"
    REJECTED = "rejected"
    SUPERSEDED = "superseded"


def _values(cls: type[enum.StrEnum]) -> str:
    return ", ".join(repr(member.value) for member in cls)


class DealProposal(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "deal_proposals"
    __table_args__ = (
        UniqueConstraint("run_id", "field", name="uq_deal_proposals_run_field"),
        Index("ix_deal_proposals_deal_created", "deal_id", "created_at"),
        # One open proposal per field of a deal: a newer one supersedes it in the same transaction.
        Index(
            "uq_deal_proposals_open_field",
            "deal_id",
            "field",
            unique=True,
            postgresql_where=text("status = 'suggested'"),
        ),
        Index("ix_deal_proposals_analysis_id", "analysis_id"),
        Index("ix_deal_proposals_transcript_id", "transcript_id"),
        Index("ix_deal_proposals_decided_by_id", "decided_by_id"),
        CheckConstraint(f"field IN ({_values(ProposalField)})", name="field"),
        CheckConstraint(f"status IN ({_values(ProposalStatus)})", name="status"),
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"))
    analysis_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("analyses.id", ondelete="CASCADE"))
    run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("agent_runs.id", ondelete="CASCADE"))
    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE")
    )
    field: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default=ProposalStatus.SUGGESTED.value)
    proposed: Mapped[Any] = mapped_column(JSONB)
    current: Mapped[Any | None] = mapped_column(JSONB)
    """The deal's value of the field when the proposal was made (null: not set, or a follow-up email)."""
    confidence: Mapped[float] = mapped_column(Float)
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    """Quotes verified against the call (`dealgraph.agents.outputs.Evidence`)."""
    decided_value: Mapped[Any | None] = mapped_column(JSONB)
    """What was applied (accepted or edited) or taken (a follow-up email)."""
    decided_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(Text)


class ProposalDecision(Identified, TenantOwned, Base):
    __tablename__ = "proposal_decisions"
    __table_args__ = (
        Index("ix_proposal_decisions_proposal_created", "proposal_id", "created_at"),
        Index("ix_proposal_decisions_deal_id", "deal_id"),
        Index("ix_proposal_decisions_actor_id", "actor_id"),
        CheckConstraint(f"decision IN ({_values(ProposalStatus)})", name="decision"),
    )

    proposal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deal_proposals.id", ondelete="CASCADE")
    )
    deal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"))
    decision: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    """Who decided; null when dealgraph did (a newer call superseded the proposal)."""
    from_value: Mapped[Any | None] = mapped_column(JSONB)
    to_value: Mapped[Any | None] = mapped_column(JSONB)
    reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
