"""agent runs claimed fairly across tenants (dealgraph/db/sql/claim_runs.sql loaded again)

Revision ID: 0010
Revises: 0008

The claim took the oldest claimable runs first across all tenants, so one tenant's flood of analyses
made every other tenant wait for all of it. It now takes, first, the runs whose tenant has the fewest
runs executing and the fewest queued ahead of them (see the file); still one round trip, and the
cluster-wide cap is unchanged. The downgrade puts back the first-come-first-served claim of 0008.
"""

from __future__ import annotations

from alembic import op

from dealgraph.db import sql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LOADED = {"claim_runs": "24949a6dae9863fe"}

FIRST_COME_FIRST_SERVED = """
CREATE OR REPLACE FUNCTION dealgraph_claim_runs(
    worker text, wanted integer, cluster_cap integer, lease interval, max_attempts integer,
    OUT room integer, OUT claimed dealgraph_claimed_run[]
)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(1684365676);  -- 0x6465616C: claims are serialised, so the cap is exact
    SELECT least(wanted, cluster_cap - count(*)) INTO room
    FROM agent_runs WHERE status = 'running' AND lease_expires_at >= now();
    IF room <= 0 THEN
        claimed := '{}';
        RETURN;
    END IF;
    WITH candidates AS (  -- a CTE runs once; an IN-subquery with LIMIT may be rescanned and over-claim
        SELECT agent_runs.id FROM agent_runs
        WHERE (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))
          AND attempts < max_attempts
        ORDER BY queued_at
        LIMIT room
        FOR UPDATE SKIP LOCKED
    ), updated AS (
        UPDATE agent_runs SET
            status = 'running',
            worker_id = worker,
            lease_expires_at = now() + lease,
            attempts = agent_runs.attempts + 1,
            started_at = now(),
            seq = agent_runs.seq + 1
        FROM analyses
        WHERE agent_runs.id IN (SELECT candidates.id FROM candidates) AND analyses.id = agent_runs.analysis_id
        RETURNING ROW(agent_runs.id, agent_runs.tenant_id, agent_runs.analysis_id, agent_runs.agent,
                      agent_runs.prompt_version_id, agent_runs.seq, agent_runs.attempts,
                      analyses.deal_id, analyses.transcript_id)::dealgraph_claimed_run AS run
    )
    SELECT coalesce(array_agg(updated.run), '{}') INTO claimed FROM updated;
END $$;
"""


def upgrade() -> None:
    for statement in sql.pinned(LOADED):
        op.execute(statement)


def downgrade() -> None:
    op.execute(FIRST_COME_FIRST_SERVED)
