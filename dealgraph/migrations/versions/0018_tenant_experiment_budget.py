"""tenants: the most one prompt experiment may cost, set by the tenant's admins

Revision ID: 0018
Revises: 0017

`experiment_budget_usd` NULL keeps the server's `DEALGRAPH_EXPERIMENT_BUDGET_USD`; a value applies instead,
never above the server's setting (see `dealgraph.db.repositories.tenancy.applied_experiment_budget`). As with
`max_queued_runs`, the application role may update this column of its own tenant row only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.add_column("tenants", sa.Column("experiment_budget_usd", sa.Float(), nullable=True))
    op.create_check_constraint(
        op.f("ck_tenants_experiment_budget_usd_not_negative"), "tenants", "experiment_budget_usd >= 0"
    )
    op.execute(f'GRANT UPDATE (experiment_budget_usd) ON tenants TO "{role}"')


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    op.execute(f'REVOKE UPDATE (experiment_budget_usd) ON tenants FROM "{role}"')
    op.drop_constraint(op.f("ck_tenants_experiment_budget_usd_not_negative"), "tenants", type_="check")
    op.drop_column("tenants", "experiment_budget_usd")
