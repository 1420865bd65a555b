"""foundation: tenancy, deal graph, transcripts

Revision ID: 0001
Revises:
Create Date: 2026-11-25 03:38:58.582487

Also creates the application role, the row-level-security policies of every tenant table and
`dealgraph_authenticate`, the one SECURITY DEFINER door through which an API key hash (known before
any tenant is) becomes a user, role and tenant.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TENANT_TABLES = ("users", "api_keys", "accounts", "deals", "transcripts", "transcript_utterances")

AUTHENTICATE_FUNCTION = """
CREATE FUNCTION dealgraph_authenticate(p_key_hash text)
RETURNS TABLE (api_key_id uuid, user_id uuid, tenant_id uuid, role text)
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    -- last_used_at is refreshed at most once a minute, so authentication stays a read on the hot path.
    UPDATE api_keys k SET last_used_at = now()
     WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL
       AND (k.last_used_at IS NULL OR k.last_used_at < now() - interval '1 minute');
    RETURN QUERY
        SELECT k.id, u.id, u.tenant_id, u.role::text
          FROM api_keys k JOIN users u ON u.id = k.user_id
         WHERE k.key_hash = p_key_hash AND k.revoked_at IS NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "tenants",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenants")),
        sa.UniqueConstraint("slug", name=op.f("uq_tenants_slug")),
    )
    op.create_table(
        "accounts",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_accounts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
    )
    op.create_index("ix_accounts_tenant_name", "accounts", ["tenant_id", "name", "id"], unique=False)
    op.create_table(
        "users",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("role", sa.Enum("admin", "member", name="user_role"), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_users_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("tenant_id", "email", name=op.f("uq_users_tenant_id")),
    )
    op.create_table(
        "api_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_api_keys_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_index("ix_api_keys_user_id", "api_keys", ["user_id"], unique=False)
    op.create_table(
        "deals",
        sa.Column("account_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "stage",
            sa.Enum(
                "prospecting",
                "qualification",
                "discovery",
                "proposal",
                "negotiation",
                "closed_won",
                "closed_lost",
                name="deal_stage",
            ),
            nullable=False,
        ),
        sa.Column("amount", sa.Numeric(precision=14, scale=2), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("close_date", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.CheckConstraint("amount IS NULL OR amount >= 0", name=op.f("ck_deals_amount_not_negative")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_deals_account_id_accounts"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_deals_owner_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_deals_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
    )
    op.create_index("ix_deals_account_id", "deals", ["account_id"], unique=False)
    op.create_index("ix_deals_owner_id", "deals", ["owner_id"], unique=False)
    op.create_index("ix_deals_tenant_close_date", "deals", ["tenant_id", "close_date"], unique=False)
    op.create_index("ix_deals_tenant_created", "deals", ["tenant_id", "created_at", "id"], unique=False)
    op.create_index("ix_deals_tenant_stage", "deals", ["tenant_id", "stage"], unique=False)
    op.create_table(
        "transcripts",
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_format", sa.String(length=16), nullable=False),
        sa.Column("original_text", sa.Text(), nullable=False),
        sa.Column("participants", postgresql.ARRAY(sa.String(length=200)), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("utterance_count", sa.Integer(), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_transcripts_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transcripts_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transcripts")),
        sa.UniqueConstraint("deal_id", "content_hash", name="uq_transcripts_deal_content"),
    )
    op.create_index("ix_transcripts_deal_occurred", "transcripts", ["deal_id", "occurred_at", "id"], unique=False)
    op.create_index("ix_transcripts_tenant_occurred", "transcripts", ["tenant_id", "occurred_at", "id"], unique=False)
    op.create_table(
        "transcript_utterances",
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("speaker", sa.String(length=200), nullable=False),
        sa.Column("start_seconds", sa.Float(), nullable=True),
        sa.Column("end_seconds", sa.Float(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed("to_tsvector('english'::regconfig, speaker || ' ' || text)", persisted=True),
            nullable=False,
        ),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transcript_utterances_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_utterances_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transcript_id", "position", name=op.f("pk_transcript_utterances")),
    )
    op.create_index(
        "ix_transcript_utterances_search",
        "transcript_utterances",
        ["search_vector"],
        unique=False,
        postgresql_using="gin",
    )

    role = context.config.attributes["app_role"]
    statements = [*rls.create_app_role(role), rls.CURRENT_TENANT_FUNCTION, AUTHENTICATE_FUNCTION]
    statements += rls.enable_tenant_rls("tenants", role, column="id", writable=False)
    for table in TENANT_TABLES:
        statements += rls.enable_tenant_rls(table, role)
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    for table in ("tenants", *TENANT_TABLES):
        for statement in rls.disable_tenant_rls(table, role):
            op.execute(statement)
    op.execute("DROP FUNCTION dealgraph_authenticate(text)")
    op.execute("DROP FUNCTION dealgraph_current_tenant()")
    op.execute(f'REVOKE USAGE ON SCHEMA public FROM "{role}"')
    op.drop_index("ix_transcript_utterances_search", table_name="transcript_utterances", postgresql_using="gin")
    op.drop_table("transcript_utterances")
    op.drop_index("ix_transcripts_tenant_occurred", table_name="transcripts")
    op.drop_index("ix_transcripts_deal_occurred", table_name="transcripts")
    op.drop_table("transcripts")
    op.drop_index("ix_deals_tenant_stage", table_name="deals")
    op.drop_index("ix_deals_tenant_created", table_name="deals")
    op.drop_index("ix_deals_tenant_close_date", table_name="deals")
    op.drop_index("ix_deals_owner_id", table_name="deals")
    op.drop_index("ix_deals_account_id", table_name="deals")
    op.drop_table("deals")
    op.drop_index("ix_api_keys_user_id", table_name="api_keys")
    op.drop_table("api_keys")
    op.drop_table("users")
    op.drop_index("ix_accounts_tenant_name", table_name="accounts")
    op.drop_table("accounts")
    op.drop_table("tenants")
    sa.Enum(name="deal_stage").drop(op.get_bind())
    sa.Enum(name="user_role").drop(op.get_bind())
