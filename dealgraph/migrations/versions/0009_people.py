"""people: who spoke on each call, their side, corrections that outlive re-ingest, and call metrics

Revision ID: 0009
Revises: 0007

Every table is a tenant table under row-level security. `people_settings` is one row per tenant (its seller
email domains and names); `person_aliases` keeps the names a human tied to a person on an account's calls.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

TABLES = ("people", "person_aliases", "transcript_speakers", "call_metrics", "people_settings")


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "people",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("side", sa.String(length=16), server_default="unknown", nullable=False),
        sa.Column("side_source", sa.String(length=16), nullable=True),
        sa.Column("account_id", sa.UUID(), nullable=True),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        *_tenant("people"),
        sa.CheckConstraint("side IN ('seller', 'buyer', 'unknown')", name=op.f("ck_people_side")),
        sa.CheckConstraint("side_source IN ('human', 'directory', 'inferred')", name=op.f("ck_people_side_source")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_people_account_id_accounts"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_people_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_people")),
        sa.UniqueConstraint("tenant_id", "email", name="uq_people_tenant_email"),
    )
    op.create_index("ix_people_tenant_name_key", "people", ["tenant_id", "name_key"], unique=False)
    op.create_index("ix_people_account_id", "people", ["account_id"], unique=False)
    op.create_index("ix_people_user_id", "people", ["user_id"], unique=False)
    op.create_table(
        "person_aliases",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("name_key", sa.String(length=200), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        *_tenant("person_aliases"),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_person_aliases_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_person_aliases_person_id_people"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("account_id", "name_key", name=op.f("pk_person_aliases")),
    )
    op.create_index("ix_person_aliases_person_id", "person_aliases", ["person_id"], unique=False)
    op.create_table(
        "transcript_speakers",
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("person_id", sa.UUID(), nullable=True),
        sa.Column("linked_by", sa.String(length=16), nullable=True),
        sa.Column("candidate_ids", postgresql.ARRAY(sa.UUID()), server_default="{}", nullable=False),
        *_tenant("transcript_speakers"),
        sa.CheckConstraint(
            "linked_by IN ('email', 'name', 'alias', 'created', 'corrected')",
            name=op.f("ck_transcript_speakers_linked_by"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["people.id"], name=op.f("fk_transcript_speakers_person_id_people"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_speakers_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transcript_id", "speaker", name=op.f("pk_transcript_speakers")),
    )
    op.create_index("ix_transcript_speakers_person_id", "transcript_speakers", ["person_id"], unique=False)
    op.create_table(
        "call_metrics",
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("metrics", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        *_tenant("call_metrics"),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_call_metrics_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transcript_id", name=op.f("pk_call_metrics")),
    )
    op.create_table(
        "people_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column("seller_domains", postgresql.ARRAY(sa.String(length=253)), server_default="{}", nullable=False),
        sa.Column("seller_names", postgresql.ARRAY(sa.String(length=200)), server_default="{}", nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_people_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_people_settings")),
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
    for table in reversed(TABLES):
        op.drop_table(table)
