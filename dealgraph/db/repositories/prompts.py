"""Prompt templates, their immutable versions, labels and the audit trail.

What a version contains (and its content hash) is the agents' business; this module only stores it.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import (
    PromptAudit,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
)

PRODUCTION = "production"
STAGING = "staging"
VERSION_CREATED = "version_created"
LABEL_SET = "label_set"
ROLLBACK = "rollback"
_SEED_LOCK = 0x70726F6D  # processes starting together seed the built-ins one at a time


async def lock_builtin_seeding(session: AsyncSession) -> None:
    """Held to the end of the transaction: processes starting together seed the built-ins one at a time."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEED_LOCK})


async def find_template(session: AsyncSession, tenant_id: uuid.UUID | None, agent: str) -> PromptTemplate | None:
    """The agent's template of `tenant_id` (its override), or with `None` the built-in one."""
    owner = PromptTemplate.tenant_id.is_(None) if tenant_id is None else PromptTemplate.tenant_id == tenant_id
    return await session.scalar(select(PromptTemplate).where(owner, PromptTemplate.agent == agent))


async def add_template(
    session: AsyncSession, *, tenant_id: uuid.UUID | None, agent: str, name: str, description: str
) -> PromptTemplate:
    """The agent's new template, or the one a concurrent transaction added meanwhile (an agent has one per
    tenant, and one built-in): the insert waits for that transaction, then gives way instead of failing."""
    added = await session.scalar(
        insert(PromptTemplate)
        .values(tenant_id=tenant_id, agent=agent, name=name, description=description)
        .on_conflict_do_nothing()  # either unique index: (tenant_id, agent), or agent where tenant_id IS NULL
        .returning(PromptTemplate)
    )
    template = added or await find_template(session, tenant_id, agent)
    assert template is not None, "the insert gave way to a committed template"
    return template


async def lock_template(session: AsyncSession, template_id: uuid.UUID) -> None:
    """Held to the end of the transaction: changes to one template's versions and labels happen one at a
    time, so each sees the versions and labels the previous one saved (numbers, twins, new labels)."""
    await session.execute(select(PromptTemplate.id).where(PromptTemplate.id == template_id).with_for_update())


async def list_templates(session: AsyncSession, names: Sequence[str]) -> list[PromptTemplate]:
    """The templates of these names (agents' keys), by name, a tenant's override before the built-in template
    (row-level security picks the tenant's)."""
    query = (
        select(PromptTemplate)
        .where(PromptTemplate.agent.in_(names))
        .order_by(PromptTemplate.agent, PromptTemplate.tenant_id.is_(None), PromptTemplate.id)
    )
    return list(await session.scalars(query))


async def get_template(session: AsyncSession, template_id: uuid.UUID) -> PromptTemplate | None:
    return await session.get(PromptTemplate, template_id)


async def get_version(session: AsyncSession, version_id: uuid.UUID) -> PromptVersion | None:
    return await session.get(PromptVersion, version_id)


async def get_label(session: AsyncSession, template_id: uuid.UUID, name: str) -> PromptLabel | None:
    return await session.get(PromptLabel, (template_id, name))


async def version_with_hash(session: AsyncSession, template_id: uuid.UUID, digest: str) -> int | None:
    """The number of the template's version with this content, if one was saved already."""
    return await session.scalar(
        select(PromptVersion.version).where(
            PromptVersion.template_id == template_id, PromptVersion.content_hash == digest
        )
    )


async def add_version(
    session: AsyncSession,
    template: PromptTemplate,
    fields: dict[str, Any],
    *,
    digest: str,
    author_id: uuid.UUID | None,
    note: str | None,
) -> PromptVersion:
    """The template's next version; `digest` is the caller's content hash of `fields`.

    The caller holds the template's lock (`lock_template`; the built-ins': `lock_builtin_seeding`), taken
    before it looked for a twin of the version (`version_with_hash`)."""
    latest = await session.scalar(
        select(func.max(PromptVersion.version)).where(PromptVersion.template_id == template.id)
    )
    version = PromptVersion(
        tenant_id=template.tenant_id,
        template_id=template.id,
        version=(latest or 0) + 1,
        note=note,
        author_id=author_id,
        content_hash=digest,
        **fields,
    )
    session.add(version)
    await session.flush()
    session.add(
        PromptAudit(
            tenant_id=template.tenant_id,
            template_id=template.id,
            action=VERSION_CREATED,
            to_version_id=version.id,
            actor_id=author_id,
        )
    )
    await session.flush()
    return version


async def move_label(
    session: AsyncSession,
    template: PromptTemplate,
    label: str,
    version: PromptVersion,
    *,
    actor_id: uuid.UUID | None,
    action: str,
    experiment_id: uuid.UUID | None = None,
) -> PromptLabel:
    current = await session.get(PromptLabel, (template.id, label), with_for_update=True)
    previous = current.version_id if current else None
    if current is None:
        current = PromptLabel(
            template_id=template.id,
            name=label,
            tenant_id=template.tenant_id,
            version_id=version.id,
            updated_by_id=actor_id,
        )
        session.add(current)
    else:
        current.version_id = version.id
        current.updated_by_id = actor_id
    session.add(
        PromptAudit(
            tenant_id=template.tenant_id,
            template_id=template.id,
            action=action,
            label=label,
            from_version_id=previous,
            to_version_id=version.id,
            actor_id=actor_id,
            experiment_id=experiment_id,
        )
    )
    await session.flush()
    await session.refresh(current, ["updated_at"])
    return current


async def rollback_target(
    session: AsyncSession, template_id: uuid.UUID, label: str, current: uuid.UUID
) -> uuid.UUID | None:
    """The version the label pointed at before it was (last) moved to `current` by a publish.

    Rollbacks themselves are skipped, so repeated rollbacks walk back through history instead of
    toggling between two versions.
    """
    return await session.scalar(
        select(PromptAudit.from_version_id)
        .where(
            PromptAudit.template_id == template_id,
            PromptAudit.label == label,
            PromptAudit.action == LABEL_SET,
            PromptAudit.to_version_id == current,
            PromptAudit.from_version_id.is_not(None),
        )
        .order_by(PromptAudit.created_at.desc())
        .limit(1)
    )


async def production_versions(session: AsyncSession, names: Sequence[str]) -> list[tuple[str, PromptVersion]]:
    """(name, version) of every `production` version of the templates of these names, built-in and tenant
    overrides alike, one per distinct content: with the agents' names, what analyses would send. Read as the
    owner (across tenants) by `dealgraph llm check`."""
    rows = await session.execute(
        select(PromptTemplate.agent, PromptVersion)
        .join(PromptLabel, PromptLabel.template_id == PromptTemplate.id)
        .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
        .where(PromptLabel.name == PRODUCTION, PromptTemplate.agent.in_(names))
        .distinct(PromptTemplate.agent, PromptVersion.content_hash)
        .order_by(PromptTemplate.agent, PromptVersion.content_hash, PromptVersion.created_at)
    )
    return [(agent, version) for agent, version in rows]
