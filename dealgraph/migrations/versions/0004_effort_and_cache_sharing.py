"""effort on prompt versions (temperature kept only as a legacy value); cache sharing state of analyses

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 14:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

EFFORTS = ("low", "medium", "high", "xhigh", "max")


def upgrade() -> None:
    # NULL effort: a version saved before effort existed; it runs at its model's default effort.
    op.add_column("prompt_versions", sa.Column("effort", sa.String(length=16), nullable=True))
    op.create_check_constraint(
        op.f("ck_prompt_versions_effort"), "prompt_versions", f"effort IN ({', '.join(repr(e) for e in EFFORTS)})"
    )
    op.alter_column("prompt_versions", "temperature", new_column_name="legacy_temperature")
    op.add_column("analyses", sa.Column("cache_leader_run_id", sa.UUID(), nullable=True))
    op.add_column("analyses", sa.Column("cache_opened_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("analyses", "cache_opened_at")
    op.drop_column("analyses", "cache_leader_run_id")
    op.alter_column("prompt_versions", "legacy_temperature", new_column_name="temperature")
    op.drop_constraint(op.f("ck_prompt_versions_effort"), "prompt_versions", type_="check")
    op.drop_column("prompt_versions", "effort")
