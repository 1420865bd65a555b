"""Alembic environment. Runs on a connection handed in by `dealgraph.db.migrate` (async engine, run_sync)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

import dealgraph.db.models  # noqa: F401  (registers every table on the metadata)
from dealgraph.db.base import Base

config = context.config
target_metadata = Base.metadata


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations(config.attributes["connection"])
