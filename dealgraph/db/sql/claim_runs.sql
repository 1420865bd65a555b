-- The agent-run queue's claim (the job pattern of dealgraph.db.jobs) under a cluster-wide cap: at most
-- `cluster_cap` runs hold a live lease at once, across every analysis pool. One statement sent in
-- autocommit, one round trip. A volatile function takes a fresh snapshot per statement, so the count
-- after the advisory lock sees every claim committed before it and the cap is exact.
-- `worker` is the claimer id (dealgraph.db.claimers).
--
-- Fair across tenants: a run's turn is its tenant's runs executing now plus its place in its tenant's queue,
-- and the lowest turns are claimed first (oldest first among equals). A tenant that queued one analysis
-- behind another tenant's hundred is served at the next free slot, not after the hundred; within a tenant
-- the queue stays first come, first served.
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
    WITH executing AS (
        SELECT agent_runs.tenant_id, count(*) AS runs FROM agent_runs
        WHERE status = 'running' AND lease_expires_at >= now()
        GROUP BY agent_runs.tenant_id
    ), waiting AS (  -- claimable runs and their turn (window functions cannot take row locks: locked below)
        SELECT agent_runs.id, agent_runs.queued_at,
               coalesce(executing.runs, 0)
                 + row_number() OVER (PARTITION BY agent_runs.tenant_id ORDER BY agent_runs.queued_at) AS turn
        FROM agent_runs LEFT JOIN executing ON executing.tenant_id = agent_runs.tenant_id
        WHERE (status = 'queued' OR (status = 'running' AND lease_expires_at < now()))
          AND attempts < max_attempts
    ), candidates AS (  -- a CTE runs once; an IN-subquery with LIMIT may be rescanned and over-claim
        SELECT agent_runs.id FROM agent_runs JOIN waiting ON waiting.id = agent_runs.id
        ORDER BY waiting.turn, waiting.queued_at
        LIMIT room
        FOR UPDATE OF agent_runs SKIP LOCKED
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
