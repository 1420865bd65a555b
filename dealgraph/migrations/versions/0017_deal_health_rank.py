"""deal health: the board's HEALTH order read from an index

Revision ID: 0017
Revises: 0016

The board orders a tenant's deals by their health's rank, then by id. With the deal id as the index's last column
the first page is the first entries of one index range (scanned backwards for the worst first), instead of every
deal of the tenant joined and sorted. It replaces the index on (tenant_id, health_rank), which it covers.
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_deal_health_tenant_rank_deal", "deal_health", ["tenant_id", "health_rank", "deal_id"])
    op.drop_index("ix_deal_health_tenant_rank", "deal_health")


def downgrade() -> None:
    op.create_index("ix_deal_health_tenant_rank", "deal_health", ["tenant_id", "health_rank"])
    op.drop_index("ix_deal_health_tenant_rank_deal", "deal_health")
