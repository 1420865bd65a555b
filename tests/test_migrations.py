"""Migrations: upgrade -> downgrade -> upgrade on a fresh database, then no drift from the models."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from dealgraph.db import migrate
from dealgraph.db.base import Base
from dealgraph.db.session import Database

# The pgvector window table exists only where the server has pgvector, so it is not a mapped model.
_MODELLED = {"include_name": lambda name, kind, parent: not (kind == "table" and name == "transcript_windows")}


async def test_round_trip_and_no_drift(empty_database_url: str) -> None:
    database = Database(empty_database_url, app_role="dealgraph_app")
    try:
        await migrate.upgrade(database.engine, "dealgraph_app")
        await migrate.downgrade(database.engine, "dealgraph_app", "base")
        async with database.engine.connect() as conn:
            tables = await conn.run_sync(lambda sync: inspect(sync).get_table_names())
            types = (await conn.execute(text("SELECT typname FROM pg_type WHERE typtype = 'e'"))).scalars().all()
            functions = (await conn.execute(text("SELECT proname FROM pg_proc WHERE proname LIKE 'dealgraph_%'"))).all()
        assert set(tables) <= {"alembic_version"} and types == [] and functions == []

        await migrate.upgrade(database.engine, "dealgraph_app")
        async with database.engine.connect() as conn:
            diff = await conn.run_sync(
                lambda sync: compare_metadata(MigrationContext.configure(sync, opts=_MODELLED), Base.metadata)
            )
            protected = set(
                (
                    await conn.execute(
                        text(
                            "SELECT c.relname FROM pg_class c JOIN pg_policy p ON p.polrelid = c.oid WHERE c.relrowsecurity"
                        )
                    )
                ).scalars()
            )
            windows = await conn.scalar(text("SELECT to_regclass('transcript_windows') IS NOT NULL"))
        assert diff == []
        # every table is under row-level security, with a policy (the pgvector table too, where it exists)
        assert protected == set(Base.metadata.tables) | ({"transcript_windows"} if windows else set())
    finally:
        await database.dispose()


def test_the_newest_file_names_the_head() -> None:
    """`upgrade` skips alembic when the database is at `head_revision()`, which it reads from the file names:
    every file's revision is its number, revising the number before it, so alembic's own head is the newest."""
    scripts = ScriptDirectory.from_config(migrate.alembic_config("dealgraph_app"))
    numbered = sorted(scripts.walk_revisions(), key=lambda script: script.revision)
    for number, script in enumerate(numbered, start=1):
        assert script.revision == f"{number:04d}" and Path(script.path).name.startswith(f"{number:04d}_")
        assert script.down_revision == (f"{number - 1:04d}" if number > 1 else None)
    assert migrate.head_revision() == scripts.get_current_head() == numbered[-1].revision


async def test_a_database_at_head_is_not_migrated_again(database_url: str) -> None:
    """What a start finds at head is left alone; one a revision behind is brought to head."""
    database = Database(database_url, app_role="dealgraph_app")
    try:
        head = migrate.head_revision()
        async with database.engine.begin() as conn:
            assert await migrate.current_revision(conn) == head
        await migrate.upgrade(database.engine, "dealgraph_app")  # at head: returns without running alembic
        await migrate.downgrade(database.engine, "dealgraph_app", "-1")
        async with database.engine.begin() as conn:
            assert await migrate.current_revision(conn) == f"{int(head) - 1:04d}"
        await migrate.upgrade(database.engine, "dealgraph_app")
        async with database.engine.begin() as conn:
            assert await migrate.current_revision(conn) == head
    finally:
        await database.dispose()
