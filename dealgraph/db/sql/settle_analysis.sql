-- Finishes an analysis none of whose runs is left to do: cancelled if any run was, else succeeded or failed
-- if all were, else partial. NULL when runs are left, or it was settled already. The caller holds the
-- analysis lock (dealgraph_finish_run, dealgraph.db.repositories.runs), so exactly one ending settles it.
CREATE OR REPLACE FUNCTION dealgraph_settle_analysis(analysis uuid) RETURNS analysis_status
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
$$;
