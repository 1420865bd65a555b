-- The tenant of the current transaction, which every row-level security policy reads (dealgraph.db.rls).
-- NULL outside a tenant transaction, so a policy-bound role then sees nothing: a forgotten scope fails closed.
CREATE OR REPLACE FUNCTION dealgraph_current_tenant() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$;
