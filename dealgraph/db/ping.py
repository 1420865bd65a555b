"""Whether PostgreSQL answers at all: the health checks' one statement."""

from __future__ import annotations

from sqlalchemy import text

from dealgraph.db.session import Database


async def ping(database: Database) -> None:
    """Raises whatever reaching the database raises; returns once it answered `SELECT 1`."""
    async with database.owner_session() as session:
        await session.execute(text("SELECT 1"))
