"""Programmatic alembic: upgrade/downgrade on an async engine without a second event loop.

Every `serve` (and each of its API processes' supervisor) migrates as it starts, and nearly always finds the
schema at head already. Knowing that takes one query and the migration files' names, so alembic, a sixth of
a second of CPU to import, is loaded only when there is something to migrate.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[1] / "migrations"

_REVISION_FILE = re.compile(r"(\d{4})_\w+\.py")
"""A revision's file: its id, then its slug. Ids count up from 0001, each revising the one before
(`tests/test_migrations.py` holds every file to it), so the newest file names the head."""


def head_revision() -> str:
    return max(
        match.group(1)
        for path in (MIGRATIONS_DIR / "versions").iterdir()
        if (match := _REVISION_FILE.fullmatch(path.name))
    )


def alembic_config(app_role: str, connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    config.attributes["app_role"] = app_role
    return config


_MIGRATION_LOCK = 0x6D696772  # processes starting together (several `serve`s) migrate one at a time


async def current_revision(conn: AsyncConnection) -> str | None:
    """The revision the database is at; None before the first migration (or after a downgrade to base)."""
    if not await conn.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
        return None
    return await conn.scalar(text("SELECT version_num FROM alembic_version"))


class RevisionError(Exception):
    """A revision alembic cannot find or reach: its `CommandError`, for callers that need not import alembic."""


async def upgrade(engine: AsyncEngine, app_role: str, revision: str = "head") -> None:
    async with engine.begin() as conn:
        await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        head = head_revision()
        if revision in ("head", head) and await current_revision(conn) == head:
            return
        await _alembic(conn, "upgrade", app_role, revision)


async def downgrade(engine: AsyncEngine, app_role: str, revision: str) -> None:
    async with engine.begin() as conn:
        await _alembic(conn, "downgrade", app_role, revision)


async def _alembic(
    conn: AsyncConnection, direction: Literal["upgrade", "downgrade"], app_role: str, revision: str
) -> None:
    from alembic import command
    from alembic.util import CommandError

    step = command.upgrade if direction == "upgrade" else command.downgrade

    def migrate(sync: Connection) -> None:
        try:
            step(alembic_config(app_role, sync), revision)
        except CommandError as error:
            raise RevisionError(str(error)) from None

    await conn.run_sync(migrate)
