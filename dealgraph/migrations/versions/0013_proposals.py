"""proposals: CRM updates an analysis proposes and a person decides, their audit, and the deal's next step

Revision ID: 0013
Revises: 0012

`deal_proposals` holds one proposed value per field of a deal per agent run, with the deal's value when it was
made; `proposal_decisions` records every decision on one (who, when, from what to what). Both are tenant tables
under row-level security. `deals.next_step` is the field a next-step proposal sets.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

TABLES = ("deal_proposals", "proposal_decisions")
_FIELDS = "'close_date', 'amount', 'next_step', 'stage', 'follow_up_email'"
_STATUSES = "'suggested', 'accepted', 'edited', 'rejected', 'superseded'"


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
    ]


def _references(table: str, *targets: tuple[str, str, str]) -> list[sa.ForeignKeyConstraint]:
    """(column, referred table, on delete) -> the foreign key, named as the models' convention names it."""
    return [
        sa.ForeignKeyConstraint(
            [column], [f"{referred}.id"], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=on_delete
        )
        for column, referred, on_delete in targets
    ]


def upgrade() -> None:
    op.add_column("deals", sa.Column("next_step", sa.String(length=500), nullable=True))
    op.create_table(
        "deal_proposals",
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("analysis_id", sa.UUID(), nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("field", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="suggested", nullable=False),
        sa.Column("proposed", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("current", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("decided_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("decided_by_id", sa.UUID(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        *_tenant("deal_proposals"),
        sa.CheckConstraint(f"field IN ({_FIELDS})", name=op.f("ck_deal_proposals_field")),
        sa.CheckConstraint(f"status IN ({_STATUSES})", name=op.f("ck_deal_proposals_status")),
        *_references(
            "deal_proposals",
            ("deal_id", "deals", "CASCADE"),
            ("analysis_id", "analyses", "CASCADE"),
            ("run_id", "agent_runs", "CASCADE"),
            ("transcript_id", "transcripts", "CASCADE"),
            ("decided_by_id", "users", "SET NULL"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_proposals")),
        sa.UniqueConstraint("run_id", "field", name="uq_deal_proposals_run_field"),
    )
    op.create_index("ix_deal_proposals_deal_created", "deal_proposals", ["deal_id", "created_at"], unique=False)
    op.create_index(
        "uq_deal_proposals_open_field",
        "deal_proposals",
        ["deal_id", "field"],
        unique=True,
        postgresql_where="status = 'suggested'",
    )
    op.create_index("ix_deal_proposals_analysis_id", "deal_proposals", ["analysis_id"], unique=False)
    op.create_index("ix_deal_proposals_transcript_id", "deal_proposals", ["transcript_id"], unique=False)
    op.create_index("ix_deal_proposals_decided_by_id", "deal_proposals", ["decided_by_id"], unique=False)
    op.create_table(
        "proposal_decisions",
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column("from_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("to_value", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        *_tenant("proposal_decisions"),
        sa.CheckConstraint(f"decision IN ({_STATUSES})", name=op.f("ck_proposal_decisions_decision")),
        *_references(
            "proposal_decisions",
            ("proposal_id", "deal_proposals", "CASCADE"),
            ("deal_id", "deals", "CASCADE"),
            ("actor_id", "users", "SET NULL"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposal_decisions")),
    )
    op.create_index(
        "ix_proposal_decisions_proposal_created", "proposal_decisions", ["proposal_id", "created_at"], unique=False
    )
    op.create_index("ix_proposal_decisions_deal_id", "proposal_decisions", ["deal_id"], unique=False)
    op.create_index("ix_proposal_decisions_actor_id", "proposal_decisions", ["actor_id"], unique=False)
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.enable_tenant_rls(table, role):
            op.execute(statement)


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.disable_tenant_rls(table, role):
            op.execute(statement)
    for table in reversed(TABLES):
        op.drop_table(table)
    op.drop_column("deals", "next_step")
