"""experiment runs: experiments (a job each) and their requests, one row per custom id

Revision ID: 0016
Revises: 0015

Both are tenant tables under row-level security; a prompt audit entry names the experiment a promotion came from. An experiment row is a job of the durable-job pattern
(status, worker_id, lease_expires_at, attempts); a request row is written once when its answer is stored.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

TABLES = ("experiments", "experiment_requests")


def upgrade() -> None:
    op.create_table(
        "experiments",
        sa.Column("dataset_id", sa.UUID(), nullable=False),
        sa.Column("dataset_version", sa.Integer(), nullable=False),
        sa.Column("agents", postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column("baseline", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("candidate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("batch_id", sa.String(length=100), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("estimate", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("budget_usd", sa.Float(), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_experiments_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["dataset_id"], ["datasets.id"], name=op.f("fk_experiments_dataset_id_datasets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_experiments_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
    )
    op.create_index(
        "ix_experiments_claimable",
        "experiments",
        ["status", "created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_table(
        "experiment_requests",
        sa.Column("experiment_id", sa.UUID(), nullable=False),
        sa.Column("custom_id", sa.String(length=64), nullable=False),
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("side", sa.String(length=10), nullable=False),
        sa.Column("prompt_version_id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("error_code", sa.String(length=40), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("result", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("evidence_verified", sa.Integer(), server_default="0", nullable=False),
        sa.Column("evidence_total", sa.Integer(), server_default="0", nullable=False),
        sa.Column("input_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("output_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("thinking_tokens", sa.Integer(), server_default="0", nullable=False),
        sa.Column("cost_usd", sa.Float(), server_default="0", nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["experiment_id"],
            ["experiments.id"],
            name=op.f("fk_experiment_requests_experiment_id_experiments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_experiment_requests_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_experiment_requests_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_requests")),
        sa.UniqueConstraint("experiment_id", "custom_id", name="uq_experiment_requests_custom_id"),
    )
    op.create_index("ix_experiment_requests_experiment_id", "experiment_requests", ["experiment_id"], unique=False)
    op.add_column("prompt_audit", sa.Column("experiment_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_prompt_audit_experiment_id_experiments"),
        "prompt_audit",
        "experiments",
        ["experiment_id"],
        ["id"],
        ondelete="SET NULL",
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
    op.drop_constraint(op.f("fk_prompt_audit_experiment_id_experiments"), "prompt_audit", type_="foreignkey")
    op.drop_column("prompt_audit", "experiment_id")
    op.drop_index("ix_experiment_requests_experiment_id", table_name="experiment_requests")
    op.drop_table("experiment_requests")
    op.drop_index(
        "ix_experiments_claimable",
        table_name="experiments",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.drop_table("experiments")
