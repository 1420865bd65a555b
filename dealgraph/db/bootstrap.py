"""Make a database ready to serve: schema migrated, built-in prompt versions loaded."""

from __future__ import annotations

from dealgraph.config import Settings
from dealgraph.db import migrate
from dealgraph.db.repositories.prompts import ensure_builtin_prompts
from dealgraph.db.session import Database


async def prepare_database(database: Database, settings: Settings, *, apply_migrations: bool) -> None:
    if apply_migrations:
        await migrate.upgrade(database.engine, settings.app_role)
    async with database.owner_session() as session:
        await ensure_builtin_prompts(session, model=settings.llm_model, max_tokens=settings.llm_max_tokens)
