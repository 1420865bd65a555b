"""Who may call the API: tenants, their users and the API keys users authenticate with."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, DateTime, Enum, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped


class Role(enum.StrEnum):
    ADMIN = "admin"
    MEMBER = "member"


class Tenant(Identified, Timestamped, Base):
    __tablename__ = "tenants"
    __table_args__ = (
        CheckConstraint("max_queued_runs >= 0", name="max_queued_runs_not_negative"),
        CheckConstraint("experiment_budget_usd >= 0", name="experiment_budget_usd_not_negative"),
    )

    name: Mapped[str] = mapped_column(String(200))
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    max_queued_runs: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """The tenant's own cap on its queued agent runs, set by its admins; None: the server's default."""
    experiment_budget_usd: Mapped[float | None] = mapped_column(Float, nullable=True)
    """The most one of the tenant's prompt experiments may cost, set by its admins; None: the server's default."""


class User(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("tenant_id", "email"),)

    email: Mapped[str] = mapped_column(String(320))
    display_name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(
        Enum(Role, name="user_role", values_callable=lambda roles: [r.value for r in roles])
    )


class ApiKey(Identified, Timestamped, TenantOwned, Base):
    """Only a SHA-256 of the key is stored; `prefix` lets people tell their keys apart."""

    __tablename__ = "api_keys"
    __table_args__ = (Index("ix_api_keys_user_id", "user_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
