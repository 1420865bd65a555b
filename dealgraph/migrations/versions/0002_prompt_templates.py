"""prompt templates: global defaults and tenant overrides, immutable versions, labels, audit

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 04:10:59.804876
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# table -> what the application role may do: versions and audit entries are never updated or deleted
PRIVILEGES = {
    "prompt_templates": "SELECT, INSERT, UPDATE",
    "prompt_versions": "SELECT, INSERT",
    "prompt_labels": "SELECT, INSERT, UPDATE",
    "prompt_audit": "SELECT, INSERT",
}


def upgrade() -> None:
    op.create_table(
        "prompt_templates",
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("agent", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_prompt_templates_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_templates")),
        sa.UniqueConstraint("tenant_id", "agent", name="uq_prompt_templates_tenant_agent"),
    )
    op.create_index(
        "uq_prompt_templates_global_agent",
        "prompt_templates",
        ["agent"],
        unique=True,
        postgresql_where=sa.text("tenant_id IS NULL"),
    )
    op.create_table(
        "prompt_versions",
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("system_text", sa.Text(), nullable=False),
        sa.Column("user_template", sa.Text(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("max_tokens", sa.Integer(), nullable=False),
        sa.Column("temperature", sa.Float(), nullable=True),
        sa.Column("output_schema", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_prompt_versions_author_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_versions_template_id_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_prompt_versions_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_versions")),
        sa.UniqueConstraint("template_id", "version", name="uq_prompt_versions_template_version"),
    )
    op.create_table(
        "prompt_audit",
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("label", sa.String(length=32), nullable=True),
        sa.Column("from_version_id", sa.UUID(), nullable=True),
        sa.Column("to_version_id", sa.UUID(), nullable=True),
        sa.Column("actor_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.text("clock_timestamp()"), nullable=False
        ),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["actor_id"], ["users.id"], name=op.f("fk_prompt_audit_actor_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["from_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_audit_from_version_id_prompt_versions"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_audit_template_id_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_prompt_audit_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["to_version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_audit_to_version_id_prompt_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_prompt_audit")),
    )
    op.create_index("ix_prompt_audit_template_created", "prompt_audit", ["template_id", "created_at"], unique=False)
    op.create_table(
        "prompt_labels",
        sa.Column("template_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=True),
        sa.Column("version_id", sa.UUID(), nullable=False),
        sa.Column("updated_by_id", sa.UUID(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["template_id"],
            ["prompt_templates.id"],
            name=op.f("fk_prompt_labels_template_id_prompt_templates"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_prompt_labels_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["updated_by_id"], ["users.id"], name=op.f("fk_prompt_labels_updated_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["prompt_versions.id"],
            name=op.f("fk_prompt_labels_version_id_prompt_versions"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("template_id", "name", name=op.f("pk_prompt_labels")),
    )
    op.create_index("ix_prompt_labels_version_id", "prompt_labels", ["version_id"], unique=False)
    role = context.config.attributes["app_role"]
    for table, privileges in PRIVILEGES.items():
        for statement in rls.enable_shared_rls(table, role, privileges):
            op.execute(statement)


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    for table in PRIVILEGES:
        for statement in rls.disable_shared_rls(table, role):
            op.execute(statement)
    op.drop_index("ix_prompt_labels_version_id", table_name="prompt_labels")
    op.drop_table("prompt_labels")
    op.drop_index("ix_prompt_audit_template_created", table_name="prompt_audit")
    op.drop_table("prompt_audit")
    op.drop_table("prompt_versions")
    op.drop_index(
        "uq_prompt_templates_global_agent", table_name="prompt_templates", postgresql_where=sa.text("tenant_id IS NULL")
    )
    op.drop_table("prompt_templates")
