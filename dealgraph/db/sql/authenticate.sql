-- An API key's principal, for the request's authentication (dealgraph.db.repositories.tenancy).
-- SECURITY DEFINER: the key lookup crosses tenants, which the application role's row-level security forbids.
CREATE OR REPLACE FUNCTION dealgraph_authenticate(p_key_hash text)
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
END $$;
