"""Programmatic alembic: upgrade/downgrade on an async engine without a second event loop."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(app_role: str, connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["app_role"] = app_role
    return config


_MIGRATION_LOCK = 0x6D696772  # processes starting together (several `serve`s) migrate one at a time


async def upgrade(engine: AsyncEngine, app_role: str, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        await conn.run_sync(lambda sync: command.upgrade(alembic_config(app_role, sync), revision))


async def downgrade(engine: AsyncEngine, app_role: str, revision: str) -> None:
    async with engine.begin() as conn:
        await conn.run_sync(lambda sync: command.downgrade(alembic_config(app_role, sync), revision))
