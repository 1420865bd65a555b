"""deal room: stage history, computed deal health (a durable job per deal), per-tenant health settings

Revision ID: 0015
Revises: 0014

Every existing deal gets one stage change: it entered its current stage when it was created (who is unknown).
Health is recomputed when what it depends on changes; database triggers request it (bump `generation`, queue
the row), so no write path can forget to: a deal created or its stage changed, a transcript added or removed,
an analysis finished, the tenant's health settings saved. Every table is a tenant table under row-level security.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import context, op
from sqlalchemy.dialects import postgresql

from dealgraph.db import rls

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

TABLES = ("deal_stage_changes", "deal_health", "health_settings")

_STAGE = postgresql.ENUM(name="deal_stage", create_type=False)

REQUEST_FUNCTION = """
CREATE FUNCTION dealgraph_request_health(deal uuid) RETURNS void
LANGUAGE sql AS $$
    -- from the deal row, so a deal being deleted (its transcripts cascading) requests nothing
    INSERT INTO deal_health (deal_id, tenant_id)
    SELECT id, tenant_id FROM deals WHERE id = deal
    ON CONFLICT (deal_id) DO UPDATE SET
        generation = deal_health.generation + 1,
        requested_at = now(),
        -- a running job stays its holder's: the holder sees the new generation and queues it again
        status = CASE WHEN deal_health.status = 'running' THEN 'running' ELSE 'queued' END,
        attempts = CASE WHEN deal_health.status = 'running' THEN deal_health.attempts ELSE 0 END
$$
"""
TRIGGER_FUNCTIONS = {
    "dealgraph_health_of_deal": "PERFORM dealgraph_request_health(NEW.id);",
    "dealgraph_health_of_transcript": "PERFORM dealgraph_request_health(coalesce(NEW.deal_id, OLD.deal_id));",
    "dealgraph_health_of_analysis": "PERFORM dealgraph_request_health(NEW.deal_id);",
    "dealgraph_health_of_settings": """
        UPDATE deal_health SET generation = generation + 1, requested_at = now(),
            status = CASE WHEN status = 'running' THEN 'running' ELSE 'queued' END,
            attempts = CASE WHEN status = 'running' THEN attempts ELSE 0 END
        WHERE tenant_id = NEW.tenant_id;""",
}
TRIGGERS = {
    "deals_health_created": "AFTER INSERT ON deals FOR EACH ROW EXECUTE FUNCTION dealgraph_health_of_deal()",
    "deals_health_stage": "AFTER UPDATE OF stage ON deals FOR EACH ROW WHEN (OLD.stage IS DISTINCT FROM NEW.stage) "
    "EXECUTE FUNCTION dealgraph_health_of_deal()",
    "transcripts_health": "AFTER INSERT OR DELETE ON transcripts FOR EACH ROW "
    "EXECUTE FUNCTION dealgraph_health_of_transcript()",
    "analyses_health_finished": "AFTER UPDATE OF finished_at ON analyses FOR EACH ROW "
    "WHEN (OLD.finished_at IS NULL AND NEW.finished_at IS NOT NULL) EXECUTE FUNCTION dealgraph_health_of_analysis()",
    "health_settings_saved": "AFTER INSERT OR UPDATE ON health_settings FOR EACH ROW "
    "EXECUTE FUNCTION dealgraph_health_of_settings()",
}
_TRIGGER_TABLES = {
    "deals_health_created": "deals",
    "deals_health_stage": "deals",
    "transcripts_health": "transcripts",
    "analyses_health_finished": "analyses",
    "health_settings_saved": "health_settings",
}


def _tenant(table: str) -> list[Any]:
    return [
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "deal_stage_changes",
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("from_stage", _STAGE, nullable=True),
        sa.Column("to_stage", _STAGE, nullable=False),
        sa.Column("changed_by", sa.UUID(), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        *_tenant("deal_stage_changes"),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_stage_changes_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["changed_by"], ["users.id"], name=op.f("fk_deal_stage_changes_changed_by_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_stage_changes")),
    )
    op.create_index("ix_deal_stage_changes_deal_changed", "deal_stage_changes", ["deal_id", "changed_at"])
    op.execute(
        "INSERT INTO deal_stage_changes (tenant_id, deal_id, from_stage, to_stage, changed_at)"
        " SELECT tenant_id, id, NULL, stage, created_at FROM deals"
    )
    op.create_table(
        "deal_health",
        sa.Column("deal_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("health", sa.String(length=16), server_default="UNKNOWN", nullable=False),
        sa.Column("health_rank", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column(
            "warnings", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'[]'::jsonb"), nullable=False
        ),
        sa.Column("warning_codes", postgresql.ARRAY(sa.String(length=32)), server_default="{}", nullable=False),
        sa.Column("next_step", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recheck_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), server_default="0", nullable=False),
        *_tenant("deal_health"),
        sa.ForeignKeyConstraint(
            ["deal_id"], ["deals.id"], name=op.f("fk_deal_health_deal_id_deals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("deal_id", name=op.f("pk_deal_health")),
    )
    op.create_index(
        "ix_deal_health_claimable",
        "deal_health",
        ["status", "requested_at"],
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.create_index(
        "ix_deal_health_recheck", "deal_health", ["recheck_at"], postgresql_where=sa.text("status = 'done'")
    )
    op.create_index("ix_deal_health_tenant_rank", "deal_health", ["tenant_id", "health_rank"])
    op.execute("INSERT INTO deal_health (deal_id, tenant_id) SELECT id, tenant_id FROM deals")
    op.create_table(
        "health_settings",
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.Column(
            "settings", postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False
        ),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_health_settings_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_health_settings")),
    )
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.enable_tenant_rls(table, role):
            op.execute(statement)
    op.execute(REQUEST_FUNCTION)
    for name, body in TRIGGER_FUNCTIONS.items():
        op.execute(f"CREATE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body} RETURN NULL; END $$")
    for name, definition in TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {definition}")


def downgrade() -> None:
    for name, table in _TRIGGER_TABLES.items():
        op.execute(f"DROP TRIGGER {name} ON {table}")
    for name in TRIGGER_FUNCTIONS:
        op.execute(f"DROP FUNCTION {name}()")
    op.execute("DROP FUNCTION dealgraph_request_health(uuid)")
    role = context.config.attributes["app_role"]
    for table in TABLES:
        for statement in rls.disable_tenant_rls(table, role):
            op.execute(statement)
    for table in reversed(TABLES):
        op.drop_table(table)
