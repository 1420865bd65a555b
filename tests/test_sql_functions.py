"""The `.sql` files are what the database runs: a fresh database migrated to head holds each file's function
exactly, and every file is pinned, at its current digest, by the newest migration that loads it."""

from __future__ import annotations

import re

import asyncpg
from alembic.script import ScriptDirectory

from dealgraph.db import migrate, sql
from dealgraph.db.session import Database
from harness.postgres import asyncpg_dsn

_DEFINITION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(.*?\bAS (\$\w*\$)(.*)\2", re.DOTALL)


def _defined(name: str) -> tuple[str, str]:
    """(function name, body) of a file, the body as PostgreSQL keeps it (`pg_proc.prosrc`)."""
    found = _DEFINITION.search(sql.read(name))
    assert found is not None, f"dealgraph/db/sql/{name}.sql defines no function"
    return found.group(1), found.group(3)


async def test_the_database_runs_what_the_files_say(database_url: str) -> None:
    database = Database(database_url, app_role="dealgraph_app")
    try:
        await migrate.upgrade(database.engine, "dealgraph_app")
    finally:
        await database.dispose()
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        for name in sql.names():
            function, body = _defined(name)
            running = await connection.fetchval(
                "SELECT prosrc FROM pg_proc WHERE proname = $1 AND pronamespace = 'public'::regnamespace", function
            )
            assert running == body, f"{function} differs from dealgraph/db/sql/{name}.sql"
    finally:
        await connection.close()


def test_every_file_is_pinned_as_it_is_by_its_newest_migration() -> None:
    """An edited file needs a migration that loads it again, or databases already at head never get it."""
    newest_pin: dict[str, tuple[str, str]] = {}
    for revision in ScriptDirectory.from_config(migrate.alembic_config("dealgraph_app")).walk_revisions():
        for name, pin in getattr(revision.module, "LOADED", {}).items():
            newest_pin.setdefault(name, (revision.revision, pin))
    assert set(newest_pin) == set(sql.names()), "a .sql file that no migration loads, or a migration loading none"
    stale = {
        f"dealgraph/db/sql/{name}.sql (pinned by {revision})"
        for name, (revision, pin) in newest_pin.items()
        if sql.digest(name) != pin
    }
    assert not stale, f"edited without a migration that loads them again: {sorted(stale)}"
