"""SQL that puts a table under tenant row-level security; migrations call it for every tenant table.

The policy reads `dealgraph_current_tenant()`, which each tenant transaction sets with
`set_config('app.tenant_id', …, true)` (see `dealgraph.db.session`). Outside such a transaction it is
NULL and a policy-bound role sees nothing: forgetting to scope a query fails closed.
Migrations depend on this module, so its output must stay stable; change it only in a new revision.
"""

from __future__ import annotations

CURRENT_TENANT_FUNCTION = """
CREATE OR REPLACE FUNCTION dealgraph_current_tenant() RETURNS uuid
LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '')::uuid $$
"""


def create_app_role(role: str) -> list[str]:
    """Create the NOLOGIN, NOBYPASSRLS role if missing; tolerant of concurrent creators (parallel test DBs)."""
    return [
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
                CREATE ROLE "{role}" NOLOGIN NOBYPASSRLS;
            END IF;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
        END $$
        """,
        f'GRANT "{role}" TO CURRENT_USER',
        f'GRANT USAGE ON SCHEMA public TO "{role}"',
    ]


def enable_tenant_rls(table: str, role: str, *, column: str = "tenant_id", writable: bool = True) -> list[str]:
    privileges = "SELECT, INSERT, UPDATE, DELETE" if writable else "SELECT"
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING ({column} = dealgraph_current_tenant()) "
        f"WITH CHECK ({column} = dealgraph_current_tenant())",
        f'GRANT {privileges} ON {table} TO "{role}"',
    ]


def disable_tenant_rls(table: str, role: str) -> list[str]:
    return [
        f'REVOKE ALL ON {table} FROM "{role}"',
        f"DROP POLICY IF EXISTS tenant_isolation ON {table}",
        f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY",
    ]


def enable_shared_rls(table: str, role: str, privileges: str) -> list[str]:
    """Tenant rows plus global rows (tenant_id NULL): every tenant reads global rows, none can write them."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"CREATE POLICY tenant_isolation ON {table} USING (tenant_id = dealgraph_current_tenant()) "
        f"WITH CHECK (tenant_id = dealgraph_current_tenant())",
        f"CREATE POLICY shared_read ON {table} FOR SELECT USING (tenant_id IS NULL)",
        f'GRANT {privileges} ON {table} TO "{role}"',
    ]


def disable_shared_rls(table: str, role: str) -> list[str]:
    return [f"DROP POLICY IF EXISTS shared_read ON {table}", *disable_tenant_rls(table, role)]
