"""Make a database ready to serve: schema migrated, built-in prompt versions (the agents' and the pairwise
judge's) loaded.

It sits above `db` and `agents` because seeding needs both: the shipped prompts are the agents'
business, storing them the repositories'.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.agents.registry import TEMPLATE_NAMES, builtin_effort
from dealgraph.config import Settings
from dealgraph.db import migrate
from dealgraph.db.repositories import prompts
from dealgraph.db.session import Database
from dealgraph.prompts.templates import builtin_templates, content_hash, source_hash, version_fields


async def prepare_database(database: Database, settings: Settings, *, apply_migrations: bool) -> None:
    if apply_migrations:
        await migrate.upgrade(database.engine, settings.app_role)
    async with database.owner_session() as session:
        await ensure_builtin_prompts(session, model=settings.llm_model, max_tokens=settings.llm_max_tokens)


async def ensure_builtin_prompts(session: AsyncSession, *, model: str, max_tokens: int) -> None:
    """Load the shipped defaults as global versions; a changed default becomes a new version, never an edit.

    A template whose recorded source hash is current is left as it is, without computing its output schema:
    that needs the Claude SDK, a second of CPU at the start of every process that may never call Claude."""
    await prompts.lock_builtin_seeding(session)
    for name in TEMPLATE_NAMES:
        template = await prompts.find_template(session, None, name) or await prompts.add_template(
            session,
            tenant_id=None,
            agent=name,
            name=f"{name} (built-in)",
            description="Shipped with dealgraph. Create a version for your tenant to override it.",
        )
        system_text, user_template = builtin_templates(name)
        made_of: dict[str, Any] = {
            "system_text": system_text,
            "user_template": user_template,
            "model": model,
            "max_tokens": max_tokens,
            "effort": builtin_effort(name),
        }
        source = source_hash(name, **made_of)
        if template.builtin_source == source:
            continue
        fields = version_fields(name, **made_of)
        digest = content_hash(**fields)
        if await prompts.version_with_hash(session, template.id, digest) is None:
            version = await prompts.add_version(
                session, template, fields, digest=digest, author_id=None, note="built-in default"
            )
            for label in (prompts.PRODUCTION, prompts.STAGING):
                await prompts.move_label(session, template, label, version, actor_id=None, action=prompts.LABEL_SET)
        template.builtin_source = source
