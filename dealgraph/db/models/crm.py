"""The deal graph: accounts (companies being sold to) and the deals opened with them."""

from __future__ import annotations

import enum
import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import CheckConstraint, Date, Enum, ForeignKey, Index, Numeric, String
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import Mapped, mapped_column

from dealgraph.db.base import Base, Identified, TenantOwned, Timestamped

MAX_AMOUNT = Decimal("999999999999.99")
"""The largest amount `numeric(14, 2)` holds."""


class DealStage(enum.StrEnum):
    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class Account(Identified, Timestamped, TenantOwned, Base):
    __tablename__ = "accounts"
    __table_args__ = (Index("ix_accounts_tenant_name", "tenant_id", "name", "id"),)

    name: Mapped[str] = mapped_column(String(200))
    domain: Mapped[str | None] = mapped_column(String(253))


class Deal(Identified, Timestamped, TenantOwned, Base):
    """Deleting an account with deals is refused (RESTRICT): nobody loses a pipeline by accident."""

    __tablename__ = "deals"
    __table_args__ = (
        CheckConstraint("amount IS NULL OR amount >= 0", name="amount_not_negative"),
        Index("ix_deals_tenant_created", "tenant_id", "created_at", "id"),
        Index("ix_deals_tenant_stage", "tenant_id", "stage"),
        Index("ix_deals_account_id", "account_id"),
        Index("ix_deals_owner_id", "owner_id"),
        Index("ix_deals_tenant_close_date", "tenant_id", "close_date"),
    )

    account_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), ForeignKey("accounts.id", ondelete="RESTRICT"))
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[DealStage] = mapped_column(
        Enum(DealStage, name="deal_stage", values_callable=lambda stages: [s.value for s in stages])
    )
    amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    close_date: Mapped[date | None] = mapped_column(Date)
    next_step: Mapped[str | None] = mapped_column(String(500))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True), ForeignKey("users.id", ondelete="SET NULL"))
