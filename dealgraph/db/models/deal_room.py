"""The deal room: every stage change of a deal, its computed health, and the tenant's health settings."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Enum, ForeignKey, Index, Integer, SmallInteger, String, Text, func, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned
from dealgraph.db.models.crm import DealStage

_STAGE = Enum(DealStage, name="deal_stage", values_callable=lambda stages: [s.value for s in stages], create_type=False)


class DealStageChange(Identified, TenantOwned, Base):
    """A deal entered `to_stage` (from `from_stage`; NULL when the deal was created in it), by whom and when."""

    __tablename__ = "deal_stage_changes"
    __table_args__ = (Index("ix_deal_stage_changes_deal_changed", "deal_id", "changed_at"),)

    deal_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"))
    from_stage: Mapped[DealStage | None] = mapped_column(_STAGE)
    to_stage: Mapped[DealStage] = mapped_column(_STAGE)
    changed_by: Mapped[uuid.UUID | None] = mapped_column(
        UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL")
    )
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DealHealth(TenantOwned, Base):
    """A deal's computed health, and the job that keeps it current (`dealgraph.db.jobs`' pattern, one per deal).

    Whatever health depends on requests a recompute by bumping `generation` and queueing the row (database
    triggers, see the 0015 migration, so no write path can forget it); the health pool stores the result only
    if no newer request came meanwhile, else the row goes back to the queue. `recheck_at` is when a day-based
    warning would next start or stop by time alone: the pool queues the row again then. `version` counts the
    changes of what the API shows (status and warnings), for `dealEvents`."""

    __tablename__ = "deal_health"
    __table_args__ = (
        Index(
            "ix_deal_health_claimable",
            "status",
            "requested_at",
            postgresql_where=text("status IN ('queued', 'running')"),
        ),
        Index("ix_deal_health_recheck", "recheck_at", postgresql_where=text("status = 'done'")),
        Index("ix_deal_health_tenant_rank_deal", "tenant_id", "health_rank", "deal_id"),  # the board's HEALTH order
    )

    deal_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("deals.id", ondelete="CASCADE"), primary_key=True
    )
    status: Mapped[str] = mapped_column(String(16), server_default="queued")  # queued | running | done | failed
    generation: Mapped[int] = mapped_column(Integer, server_default="0")
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    worker_id: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    error_message: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    health: Mapped[str] = mapped_column(String(16), server_default="UNKNOWN")
    health_rank: Mapped[int] = mapped_column(SmallInteger, server_default="0")
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default=text("'[]'::jsonb"))
    warning_codes: Mapped[list[str]] = mapped_column(ARRAY(String(32)), server_default="{}")
    next_step: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    computed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    recheck_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="0")


class HealthSettings(Base):
    """A tenant's warning switches and thresholds (`dealgraph.services.health_rules.HealthSettingsFields`), as
    JSON: absent keys take the documented defaults, so a new warning needs no migration."""

    __tablename__ = "health_settings"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        UUID(as_uuid=True), ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
