"""Prompt templates that admins edit: immutable versions, movable labels, and an audit trail.

A template is global (tenant_id NULL: the built-in default of an agent, shipped with the package)
or a tenant's override. Versions are never updated (the application role may only insert them);
`production` and `staging` labels point at versions, and moving a label publishes or rolls back.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, Timestamped
from dealgraph.effort import EFFORTS, Effort


def _optional_tenant() -> Mapped[uuid.UUID | None]:
    return mapped_column(UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"))


def _created_at() -> Mapped[datetime]:
    """clock_timestamp(), not now(): entries written in one transaction must still be ordered."""
    return mapped_column(DateTime(timezone=True), server_default=func.clock_timestamp())


class PromptTemplate(Identified, Timestamped, Base):
    __tablename__ = "prompt_templates"
    __table_args__ = (
        UniqueConstraint("tenant_id", "agent", name="uq_prompt_templates_tenant_agent"),
        Index("uq_prompt_templates_global_agent", "agent", unique=True, postgresql_where=text("tenant_id IS NULL")),
    )

    tenant_id: Mapped[uuid.UUID | None] = _optional_tenant()
    agent: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text)
    builtin_source: Mapped[str | None] = mapped_column(String(64))
    """A built-in template's: the source hash (`prompts.templates.source_hash`) its current version was seeded
    from, so start-up knows it is current without computing the output schema. Null for tenants' templates."""


class PromptVersion(Identified, Base):
    __tablename__ = "prompt_versions"
    __table_args__ = (
        UniqueConstraint("template_id", "version", name="uq_prompt_versions_template_version"),
        CheckConstraint(f"effort IN ({', '.join(repr(effort) for effort in EFFORTS)})", name="effort"),
    )

    tenant_id: Mapped[uuid.UUID | None] = _optional_tenant()
    template_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_templates.id", ondelete="CASCADE")
    )
    version: Mapped[int] = mapped_column(Integer)
    system_text: Mapped[str] = mapped_column(Text)
    user_template: Mapped[str] = mapped_column(Text)
    model: Mapped[str] = mapped_column(String(100))
    max_tokens: Mapped[int] = mapped_column(Integer)
    effort: Mapped[Effort | None] = mapped_column(String(16))
    """None for versions saved before effort existed: they run at their model's default effort."""
    legacy_temperature: Mapped[float | None] = mapped_column(Float)
    """Recorded by versions saved before effort replaced it; never sent (current models refuse it)."""
    output_schema: Mapped[dict[str, Any]] = mapped_column(JSONB)
    note: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = _created_at()


class PromptLabel(Base):
    __tablename__ = "prompt_labels"
    __table_args__ = (Index("ix_prompt_labels_version_id", "version_id"),)

    template_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_templates.id", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    tenant_id: Mapped[uuid.UUID | None] = _optional_tenant()
    version_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_versions.id", ondelete="RESTRICT")
    )
    updated_by_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )


class PromptAudit(Identified, Base):
    """Who changed what: version created, label moved (from which version to which), rollback."""

    __tablename__ = "prompt_audit"
    __table_args__ = (Index("ix_prompt_audit_template_created", "template_id", "created_at"),)

    tenant_id: Mapped[uuid.UUID | None] = _optional_tenant()
    template_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_templates.id", ondelete="CASCADE")
    )
    action: Mapped[str] = mapped_column(String(32))
    label: Mapped[str | None] = mapped_column(String(32))
    from_version_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_versions.id", ondelete="RESTRICT")
    )
    to_version_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("prompt_versions.id", ondelete="RESTRICT")
    )
    actor_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("experiments.id", ondelete="SET NULL")
    )
    """The experiment whose promotion moved the label."""
    created_at: Mapped[datetime] = _created_at()
