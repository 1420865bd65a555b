"""Prompt templates, their immutable versions, labels, the audit trail, and built-in defaults."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.claude_models import Effort
from dealgraph.agents.registry import AGENTS, builtin_effort
from dealgraph.agents.templates import builtin_templates, content_hash
from dealgraph.db.models import AgentRun, Analysis, PromptAudit, PromptLabel, PromptTemplate, PromptVersion, RunStatus, Transcript

PRODUCTION = "production"
STAGING = "staging"
VERSION_CREATED = "version_created"
LABEL_SET = "label_set"
ROLLBACK = "rollback"
_SEED_LOCK = 0x70726F6D  # processes starting together seed the built-ins one at a time


def version_fields(
    agent: AgentKind, *, system_text: str, user_template: str, model: str, max_tokens: int, effort: Effort | None
) -> dict[str, Any]:
    """The content of a version; the agent's output schema is recorded with it, as the code defines it now."""
    return {
        "system_text": system_text,
        "user_template": user_template,
        "model": model,
        "max_tokens": max_tokens,
        "effort": effort,
        "output_schema": AGENTS[agent].output_schema,
    }


async def ensure_builtin_prompts(session: AsyncSession, *, model: str, max_tokens: int) -> None:
    """Load the shipped defaults as global versions; a changed default becomes a new version, never an edit."""
    await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _SEED_LOCK})
    for kind in AgentKind:
        template = await session.scalar(
            select(PromptTemplate).where(PromptTemplate.tenant_id.is_(None), PromptTemplate.agent == kind.value)
        )
        if template is None:
            template = PromptTemplate(
                tenant_id=None,
                agent=kind.value,
                name=f"{kind.value} (built-in)",
                description="Shipped with dealgraph. Create a version for your tenant to override it.",
            )
            session.add(template)
            await session.flush()
        system_text, user_template = builtin_templates(kind.value)
        fields = version_fields(
            kind,
            system_text=system_text,
            user_template=user_template,
            model=model,
            max_tokens=max_tokens,
            effort=builtin_effort(kind),
        )
        digest = content_hash(**fields)
        if await session.scalar(
            select(PromptVersion.id).where(PromptVersion.template_id == template.id, PromptVersion.content_hash == digest)
        ):
            continue
        version = await add_version(session, template, fields, author_id=None, note="built-in default")
        for label in (PRODUCTION, STAGING):
            await move_label(session, template, label, version, actor_id=None, action=LABEL_SET)


async def add_version(
    session: AsyncSession, template: PromptTemplate, fields: dict[str, Any], *, author_id: uuid.UUID | None, note: str | None
) -> PromptVersion:
    await session.execute(select(PromptTemplate.id).where(PromptTemplate.id == template.id).with_for_update())
    latest = await session.scalar(select(func.max(PromptVersion.version)).where(PromptVersion.template_id == template.id))
    version = PromptVersion(
        tenant_id=template.tenant_id,
        template_id=template.id,
        version=(latest or 0) + 1,
        note=note,
        author_id=author_id,
        content_hash=content_hash(**fields),
        **fields,
    )
    session.add(version)
    await session.flush()
    session.add(
        PromptAudit(
            tenant_id=template.tenant_id, template_id=template.id, action=VERSION_CREATED,
            to_version_id=version.id, actor_id=author_id,
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
) -> PromptLabel:
    current = await session.get(PromptLabel, (template.id, label), with_for_update=True)
    previous = current.version_id if current else None
    if current is None:
        current = PromptLabel(
            template_id=template.id, name=label, tenant_id=template.tenant_id, version_id=version.id, updated_by_id=actor_id
        )
        session.add(current)
    else:
        current.version_id = version.id
        current.updated_by_id = actor_id
    session.add(
        PromptAudit(
            tenant_id=template.tenant_id, template_id=template.id, action=action, label=label,
            from_version_id=previous, to_version_id=version.id, actor_id=actor_id,
        )
    )
    await session.flush()
    await session.refresh(current, ["updated_at"])
    return current


async def rollback_target(session: AsyncSession, template_id: uuid.UUID, label: str, current: uuid.UUID) -> uuid.UUID | None:
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


async def resolve_versions(session: AsyncSession, agents: Sequence[str], label: str) -> dict[str, PromptVersion]:
    """Per agent, the version `label` points at: the tenant's own template first, else the global one.

    Row-level security already limits the rows to the tenant's and the global ones.
    """
    rows = (
        await session.execute(
            select(PromptTemplate.agent, PromptTemplate.tenant_id, PromptVersion)
            .join(PromptLabel, PromptLabel.template_id == PromptTemplate.id)
            .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
            .where(PromptTemplate.agent.in_(agents), PromptLabel.name == label)
        )
    ).all()
    resolved: dict[str, PromptVersion] = {}
    for agent, tenant_id, version in sorted(rows, key=lambda row: row.tenant_id is None):
        resolved.setdefault(agent, version)
    return resolved


async def reusable_result(session: AsyncSession, agent: str, prompt_version_id: uuid.UUID, transcript_hash: str) -> AgentRun | None:
    """A succeeded run of the same agent, prompt version (hence model) and transcript content."""
    return await session.scalar(
        select(AgentRun)
        .join(Analysis, Analysis.id == AgentRun.analysis_id)
        .join(Transcript, Transcript.id == Analysis.transcript_id)
        .where(
            AgentRun.agent == agent,
            AgentRun.prompt_version_id == prompt_version_id,
            AgentRun.status == RunStatus.SUCCEEDED,
            Transcript.content_hash == transcript_hash,
        )
        .order_by(AgentRun.finished_at.desc())
        .limit(1)
    )


async def production_configurations(session: AsyncSession) -> list[tuple[str, str, str | None]]:
    """Distinct (agent, model, effort) of every `production` version, built-in and tenant overrides alike:
    what analyses would send. Read as the owner (across tenants) by `dealgraph llm check`."""
    rows = await session.execute(
        select(PromptTemplate.agent, PromptVersion.model, PromptVersion.effort)
        .join(PromptLabel, PromptLabel.template_id == PromptTemplate.id)
        .join(PromptVersion, PromptVersion.id == PromptLabel.version_id)
        .where(PromptLabel.name == PRODUCTION)
        .distinct()
        .order_by(PromptTemplate.agent, PromptVersion.model, PromptVersion.effort)
    )
    return [(agent, model, effort) for agent, model, effort in rows]
