"""People on calls: who each transcript speaker is, on which side, and each call's conversation metrics.

A `Person` is per tenant; `TranscriptSpeaker` links one speaker label of one transcript to a person (or
leaves it unlinked, listing the candidates it could not choose between). `PersonAlias` keeps what a human
(a correction or a merge) said a name means on one account's calls, so re-adding a transcript links it the
same way. `CallMetrics` holds `dealgraph.transcripts.metrics.CallMetrics` as JSON.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped
from dealgraph.transcripts.metrics import Side


class SideSource(enum.StrEnum):
    """Who decided a person's side: a human correction, the tenant's seller directory (users, seller domains
    and names, the account's domain), or the stakeholder agent (only where the others left it unknown)."""

    HUMAN = "human"
    DIRECTORY = "directory"
    INFERRED = "inferred"


class LinkedBy(enum.StrEnum):
    """How a speaker was linked to its person."""

    EMAIL = "email"
    NAME = "name"
    ALIAS = "alias"
    CREATED = "created"
    CORRECTED = "corrected"


def _values(cls: type[enum.StrEnum]) -> str:
    return ", ".join(repr(member.value) for member in cls)


class Person(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "people"
    __table_args__ = (
        UniqueConstraint("tenant_id", "email", name="uq_people_tenant_email"),
        Index("ix_people_tenant_name_key", "tenant_id", "name_key"),
        # A name without an email is one person per account (sellers, who have none, count as one account):
        # what lets racing transcripts share the person instead of each creating one.
        Index(
            "uq_people_tenant_account_name",
            "tenant_id",
            "account_id",
            "name_key",
            unique=True,
            postgresql_where=text("email IS NULL"),
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_people_account_id", "account_id"),
        Index("ix_people_user_id", "user_id"),
        CheckConstraint(f"side IN ({_values(Side)})", name="side"),
        CheckConstraint(f"side_source IN ({_values(SideSource)})", name="side_source"),
    )

    name: Mapped[str] = mapped_column(String(200))
    name_key: Mapped[str] = mapped_column(String(200))
    """The name as matched: case, accents, punctuation and spacing folded away."""
    email: Mapped[str | None] = mapped_column(String(320))
    """Lower case."""
    title: Mapped[str | None] = mapped_column(String(200))
    side: Mapped[str] = mapped_column(String(16), server_default=Side.UNKNOWN.value)
    side_source: Mapped[str | None] = mapped_column(String(16))
    account_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="SET NULL")
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))


class PersonAlias(TenantOwned, Base):
    __tablename__ = "person_aliases"
    __table_args__ = (Index("ix_person_aliases_person_id", "person_id"),)

    account_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    name_key: Mapped[str] = mapped_column(String(200), primary_key=True)
    person_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("people.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TranscriptSpeaker(TenantOwned, Base):
    __tablename__ = "transcript_speakers"
    __table_args__ = (
        Index("ix_transcript_speakers_person_id", "person_id"),
        CheckConstraint(f"linked_by IN ({_values(LinkedBy)})", name="linked_by"),
    )

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True
    )
    speaker: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)
    """Order of first appearance in the call, from 0."""
    email: Mapped[str | None] = mapped_column(String(320))
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("people.id", ondelete="SET NULL")
    )
    linked_by: Mapped[str | None] = mapped_column(String(16))
    candidate_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(UUID(as_uuid=True)), server_default="{}")
    """The people an unlinked speaker matched equally well (empty when linked, or when nobody matched)."""


class CallMetrics(TenantOwned, Base):
    __tablename__ = "call_metrics"

    transcript_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("transcripts.id", ondelete="CASCADE"), primary_key=True
    )
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PeopleSettings(Base):
    """The tenant's seller directory beyond its users: its email domains and the names of sellers on calls."""

    __tablename__ = "people_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    seller_domains: Mapped[list[str]] = mapped_column(ARRAY(String(253)), server_default="{}")
    seller_names: Mapped[list[str]] = mapped_column(ARRAY(String(200)), server_default="{}")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
