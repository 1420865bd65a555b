"""tenants: a cap on the tenant's queued agent runs, set by the tenant's admins

Revision ID: 0012
Revises: 0011

`max_queued_runs` NULL keeps the server's `DEALGRAPH_MAX_QUEUED_RUNS`; a value applies instead, never above
the server's setting (see `dealgraph.db.repositories.tenancy.applied_queue_cap`). The application role may
update this column (and `updated_at`) of its own tenant row (the table's tenant policy already limits it to that
row); the tenant's name and slug stay read-only to it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.add_column("tenants", sa.Column("max_queued_runs", sa.Integer(), nullable=True))
    op.create_check_constraint(op.f("ck_tenants_max_queued_runs_not_negative"), "tenants", "max_queued_runs >= 0")
    op.execute(f'GRANT UPDATE (max_queued_runs, updated_at) ON tenants TO "{role}"')


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute(f'REVOKE UPDATE (max_queued_runs, updated_at) ON tenants FROM "{role}"')
    op.drop_constraint(op.f("ck_tenants_max_queued_runs_not_negative"), "tenants", type_="check")
    op.drop_column("tenants", "max_queued_runs")
