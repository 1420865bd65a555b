"""announce revoked and deleted API keys (NOTIFY dealgraph_keys_revoked)

Revision ID: 0005
Revises: 0004

A trigger rather than application code, so no revoke path (CLI, a future mutation, a manual UPDATE,
deleting a user or tenant, which cascades to the keys) can forget to tell the servers holding
WebSockets of that key. NOTIFY is transactional: servers hear of it only once the revoke commits.
The payload carries ids only, never the key or its hash.
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOTIFY_FUNCTION = """
CREATE FUNCTION dealgraph_notify_key_revoked() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('dealgraph_keys_revoked',
                      json_build_object('apiKey', OLD.id, 'user', OLD.user_id, 'tenant', OLD.tenant_id)::text);
    RETURN NULL;
END $$
"""

TRIGGERS = (
    """
    CREATE TRIGGER api_keys_revoked AFTER UPDATE OF revoked_at ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
    EXECUTE FUNCTION dealgraph_notify_key_revoked()
    """,
    """
    CREATE TRIGGER api_keys_deleted AFTER DELETE ON api_keys FOR EACH ROW
    WHEN (OLD.revoked_at IS NULL)
    EXECUTE FUNCTION dealgraph_notify_key_revoked()
    """,
)


def upgrade() -> None:
    op.execute(NOTIFY_FUNCTION)
    for trigger in TRIGGERS:
        op.execute(trigger)


def downgrade() -> None:
    op.execute("DROP TRIGGER api_keys_deleted ON api_keys")
    op.execute("DROP TRIGGER api_keys_revoked ON api_keys")
    op.execute("DROP FUNCTION dealgraph_notify_key_revoked()")
