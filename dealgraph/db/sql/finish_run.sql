-- Records an agent run's end, fenced on its claimer (`worker`): nothing is written, and seq is NULL,
-- when the run is no longer that claimer's. Locks the analysis first (the order every writer uses),
-- settles it if this was its last run and, when `channel` is given (the NOTIFY event transport),
-- sends both events with the commit. One statement sent in autocommit: one round trip per run.
CREATE OR REPLACE FUNCTION dealgraph_finish_run(
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
END $$;
