"""Migrations: upgrade -> downgrade -> upgrade on a fresh database, then no drift from the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
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
