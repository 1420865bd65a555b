"""run state changes as functions: a claim and a run's end are one statement, one round trip

Revision ID: 0007
Revises: 0006

Claiming runs and recording a run's end each took a transaction of several statements (BEGIN, the
advisory lock, the count, the claim, the NOTIFY, COMMIT; BEGIN, the end, the settlement, COMMIT),
each a round trip, for every agent run. As functions they are one statement, sent in autocommit
mode: one round trip, one transaction. They stay correct under READ COMMITTED because a volatile
function takes a fresh snapshot for each statement it runs: the count after the claim lock sees every
claim committed before it, and the settlement after the analysis lock sees every sibling run that
ended before it (one statement with CTEs would read all of them in a snapshot taken before the lock).
The model is procrastinate's job functions.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SETTLE_ANALYSIS = """
CREATE FUNCTION dealgraph_settle_analysis(analysis uuid) RETURNS analysis_status
LANGUAGE sql AS $$
    UPDATE analyses SET
        status = CASE
            WHEN EXISTS (SELECT FROM agent_runs WHERE analysis_id = analysis AND status = 'cancelled') THEN 'cancelled'
            WHEN NOT EXISTS (SELECT FROM agent_runs WHERE analysis_id = analysis AND status <> 'succeeded')
                THEN 'succeeded'
            WHEN NOT EXISTS (SELECT FROM agent_runs WHERE analysis_id = analysis AND status <> 'failed') THEN 'failed'
            ELSE 'partial'
        END::analysis_status,
        finished_at = now(),
        started_at = coalesce(started_at, now())  -- e.g. every result reused: started as it ended
    WHERE id = analysis
      AND finished_at IS NULL
      AND NOT EXISTS (
          SELECT FROM agent_runs
          WHERE analysis_id = analysis AND status NOT IN ('succeeded', 'failed', 'cancelled')
      )
    RETURNING status
$$
"""

CLAIMED_RUN = """
CREATE TYPE dealgraph_claimed_run AS (
    id uuid, tenant_id uuid, analysis_id uuid, agent text, prompt_version_id uuid, seq integer, attempts integer,
    deal_id uuid, transcript_id uuid
)
"""

CLAIM_RUNS = """
CREATE FUNCTION dealgraph_claim_runs(
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
END $$
"""

FINISH_RUN = """
CREATE FUNCTION dealgraph_finish_run(
    run uuid, analysis uuid, worker text, outcome jsonb, channel text, run_event jsonb, finished_event jsonb,
    OUT seq integer, OUT settled analysis_status
)
LANGUAGE plpgsql AS $$
BEGIN
    -- the analysis first (the order every writer uses): of the runs ending together, exactly one settles it
    PERFORM FROM analyses WHERE id = analysis FOR UPDATE;
    UPDATE agent_runs SET
        status = CAST(outcome->>'status' AS agent_run_status),
        result = outcome->'result',
        metadata = outcome->'metadata',
        simulated = CAST(outcome->>'simulated' AS boolean),
        model = outcome->>'model',
        input_tokens = CAST(outcome->>'input_tokens' AS integer),
        output_tokens = CAST(outcome->>'output_tokens' AS integer),
        cache_read_tokens = CAST(outcome->>'cache_read_tokens' AS integer),
        cache_write_tokens = CAST(outcome->>'cache_write_tokens' AS integer),
        latency_ms = CAST(outcome->>'latency_ms' AS integer),
        error_code = outcome->>'error_code',
        error_message = outcome->>'error_message',
        finished_at = now(),
        lease_expires_at = NULL,
        seq = agent_runs.seq + 1
    WHERE agent_runs.id = run AND agent_runs.worker_id = worker AND agent_runs.status = 'running'
    RETURNING agent_runs.seq INTO seq;
    IF NOT FOUND THEN  -- the run is no longer this worker's (or is gone): nothing written
        RETURN;
    END IF;
    settled := dealgraph_settle_analysis(analysis);
    IF channel IS NOT NULL THEN  -- PostgreSQL is the event transport: the events leave with the commit
        PERFORM pg_notify(channel, CAST(run_event || jsonb_build_object('seq', seq) AS text));
        IF settled IS NOT NULL THEN
            PERFORM pg_notify(channel, CAST(finished_event || jsonb_build_object('status', settled) AS text));
        END IF;
    END IF;
END $$
"""


def upgrade() -> None:
    for statement in (SETTLE_ANALYSIS, CLAIMED_RUN, CLAIM_RUNS, FINISH_RUN):
        op.execute(statement)


def downgrade() -> None:
    op.execute("DROP FUNCTION dealgraph_finish_run(uuid, uuid, text, jsonb, text, jsonb, jsonb)")
    op.execute("DROP FUNCTION dealgraph_claim_runs(text, integer, integer, interval, integer)")
    op.execute("DROP TYPE dealgraph_claimed_run")
    op.execute("DROP FUNCTION dealgraph_settle_analysis(uuid)")
