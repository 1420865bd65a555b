"""analyses and agent runs

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 03:51:54.143307
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = ("analyses", "agent_runs")


def upgrade() -> None:
    op.create_table(
        "analyses",
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("requested_by_id", sa.UUID(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "succeeded", "partial", "failed", "cancelled", name="analysis_status"),
            nullable=False,
        ),
        sa.Column("agents", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("prompt_label", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(["deal_id"], ["deals.id"], name=op.f("fk_analyses_deal_id_deals"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["requested_by_id"], ["users.id"], name=op.f("fk_analyses_requested_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_analyses_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_analyses_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_analyses")),
        sa.UniqueConstraint("tenant_id", "idempotency_key", name="uq_analyses_idempotency_key"),
    )
    op.create_index("ix_analyses_deal_created", "analyses", ["deal_id", "created_at"], unique=False)
    op.create_index("ix_analyses_transcript_created", "analyses", ["transcript_id", "created_at"], unique=False)
    op.create_table(
        "agent_runs",
        sa.Column("analysis_id", sa.UUID(), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("prompt_version_id", sa.UUID(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("queued", "running", "succeeded", "failed", "cancelled", name="agent_run_status"),
            nullable=False,
        ),
        sa.Column("seq", sa.Integer(), server_default="0", nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cache_read_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cache_write_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("metadata", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("simulated", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["analysis_id"], ["analyses.id"], name=op.f("fk_agent_runs_analysis_id_analyses"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["prompt_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_agent_runs_prompt_version_id_prompt_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_agent_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_agent_runs")),
        sa.UniqueConstraint("analysis_id", "agent", name="uq_agent_runs_analysis_agent"),
    )
    op.create_index(op.f("ix_agent_runs_prompt_version_id"), "agent_runs", ["prompt_version_id"], unique=False)
    op.create_index(
        "ix_agent_runs_claimable",
        "agent_runs",
        ["status", "queued_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.enable_tenant_rls(table, role):
            op.execute(statement)


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.disable_tenant_rls(table, role):
            op.execute(statement)
    op.drop_index(
        "ix_agent_runs_claimable", table_name="agent_runs", postgresql_where=sa.text("status IN ('queued', 'running')")
    )
    op.drop_index(op.f("ix_agent_runs_prompt_version_id"), table_name="agent_runs")
    op.drop_table("agent_runs")
    op.drop_index("ix_analyses_transcript_created", table_name="analyses")
    op.drop_index("ix_analyses_deal_created", table_name="analyses")
    op.drop_table("analyses")
    sa.Enum(name="agent_run_status").drop(op.get_bind())
    sa.Enum(name="analysis_status").drop(op.get_bind())
