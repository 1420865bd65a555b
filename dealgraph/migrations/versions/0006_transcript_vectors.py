"""transcript vectors: the embedding queue everywhere, pgvector windows where the server has pgvector

Revision ID: 0006
Revises: 0005

The extension is created only where `pg_available_extensions` lists it and the migrating role may
create it; elsewhere the vector table is skipped (keyword search and everything else keep working,
and the server logs at start-up that semantic search needs pgvector). Embeddings are stored without a
fixed dimension, one row per (transcript, model, window), so a new model can be embedded beside the old
one (`dealgraph reembed`); the HNSW index is per model on the cast to its dimension.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context, op

from dealgraph.db import rls
from dealgraph.db.vector_sql import hnsw_index_sql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

DEFAULT_MODEL = ("wordllama-l2_supercat-256", 256)

CREATE_EXTENSION = """
DO $$ BEGIN
    IF EXISTS (SELECT FROM pg_available_extensions WHERE name = 'vector') THEN
        CREATE EXTENSION IF NOT EXISTS vector;
    END IF;
EXCEPTION WHEN insufficient_privilege THEN
    RAISE NOTICE 'pgvector is available but this role may not create it: semantic search stays off';
END $$
"""

CREATE_WINDOWS = """
CREATE TABLE transcript_windows (
    tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
    transcript_id uuid NOT NULL REFERENCES transcripts(id) ON DELETE CASCADE,
    model varchar(100) NOT NULL,
    position integer NOT NULL,
    speaker varchar(200) NOT NULL,
    start_seconds double precision,
    embedding vector NOT NULL,
    CONSTRAINT pk_transcript_windows PRIMARY KEY (transcript_id, model, position)
)
"""


def upgrade() -> None:
    role = context.config.attributes["app_role"]
    op.create_table(
        "transcript_search_jobs",
        sa.Column("transcript_id", sa.UUID(), nullable=False),
        sa.Column("status", sa.String(length=16), server_default="queued", nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("worker_id", sa.String(length=100), nullable=True),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("tenant_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_transcript_search_jobs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["transcript_id"],
            ["transcripts.id"],
            name=op.f("fk_transcript_search_jobs_transcript_id_transcripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("transcript_id", name=op.f("pk_transcript_search_jobs")),
    )
    op.create_index(
        "ix_transcript_search_jobs_claimable",
        "transcript_search_jobs",
        ["status", "created_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.execute("INSERT INTO transcript_search_jobs (transcript_id, tenant_id) SELECT id, tenant_id FROM transcripts")
    for statement in rls.enable_tenant_rls("transcript_search_jobs", role):
        op.execute(statement)

    op.execute(CREATE_EXTENSION)
    if op.get_bind().execute(sa.text("SELECT 1 FROM pg_extension WHERE extname = 'vector'")).scalar() is None:
        return
    op.execute(CREATE_WINDOWS)
    op.execute("CREATE INDEX ix_transcript_windows_tenant_transcript ON transcript_windows (tenant_id, transcript_id)")
    op.execute(hnsw_index_sql(*DEFAULT_MODEL))
    for statement in rls.enable_tenant_rls("transcript_windows", role):
        op.execute(statement)


def downgrade() -> None:
    role = context.config.attributes["app_role"]
    if op.get_bind().execute(sa.text("SELECT to_regclass('transcript_windows')")).scalar() is not None:
        for statement in rls.disable_tenant_rls("transcript_windows", role):
            op.execute(statement)
        op.execute("DROP TABLE transcript_windows")
    for statement in rls.disable_tenant_rls("transcript_search_jobs", role):
        op.execute(statement)
    op.drop_index(
        "ix_transcript_search_jobs_claimable",
        table_name="transcript_search_jobs",
        postgresql_where=sa.text("status IN ('queued', 'running')"),
    )
    op.drop_table("transcript_search_jobs")
