"""experiments: the intent to create a Message Batch, stored before the create

Revision ID: 0019
Revises: 0018

`batch_requested_at` and `batch_requests` are written (fenced on the claim) before a pool creates an
experiment's batch, `batch_id` after. A pool that finds the first without the second knows a batch may exist
that no row names, and looks for it at the API (`dealgraph.runs.experiment_batch`) before creating one.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("batch_requested_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("experiments", sa.Column("batch_requests", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("experiments", "batch_requests")
    op.drop_column("experiments", "batch_requested_at")
