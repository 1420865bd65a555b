-- Trigger of api_keys: a revoked or deleted key is announced, so every process drops its cached principal
-- and closes the WebSockets that authenticated with it.
CREATE OR REPLACE FUNCTION dealgraph_notify_key_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dealgraph_keys_revoked',
                      json_build_object('apiKey', OLD.id, 'user', OLD.user_id, 'tenant', OLD.tenant_id)::text);
    RETURN NULL;
END $$;
