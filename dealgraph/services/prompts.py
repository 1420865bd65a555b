"""Editing prompts: versions are validated before anything is saved; labels move, and roll back."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from typing import Annotated, cast

from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from dealgraph.agents.judge import PAIRWISE_JUDGE
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENT_NAMES, AGENTS, builtin_effort
from dealgraph.claude.client import LlmClient, StructuredRequest
from dealgraph.claude.models import Effort, UnknownModel
from dealgraph.config import Settings
from dealgraph.db.models import PromptLabel, PromptTemplate, PromptVersion
from dealgraph.db.repositories import prompts
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput, ErrorCode, NotFound
from dealgraph.prompts.request import tenant_cache_key
from dealgraph.prompts.templates import TemplateRenderError, content_hash, validate_version, version_fields
from dealgraph.runs.inputs import load_inputs
from dealgraph.validation import BLANK_IS_NONE, Checker, InvalidInput, Rules


class PromptKind(enum.StrEnum):
    """What a prompt template is for: an agent of analyses, or the pairwise judge of experiments."""

    AGENT = "agent"
    PAIRWISE_JUDGE = "pairwise_judge"

    @classmethod
    def of(cls, name: str) -> PromptKind:
        """The kind of the template stored under `name` (an agent's key, or the judge's reserved name)."""
        return cls.PAIRWISE_JUDGE if name == PAIRWISE_JUDGE else cls.AGENT


Label = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
LABEL_FORMAT = "must be lowercase letters, digits, '-' or '_' (e.g. production)"
MAX_LABELS_AT_ONCE = 10  # a label names a stage (production, staging, ...): a thousand took 2 s to set
NOTE_LIMIT = 2000


class LabelFields(TypedDict, total=False):
    label: Label


class VersionFields(TypedDict, total=False):
    temperature: None
    note: Annotated[Annotated[str, StringConstraints(max_length=NOTE_LIMIT)] | None, BLANK_IS_NONE]
    labels: Annotated[list[Label], Field(max_length=MAX_LABELS_AT_ONCE)]


LABEL_RULES = Rules(LabelFields, {("label", "string_pattern_mismatch"): LABEL_FORMAT})
VERSION_RULES = Rules(
    VersionFields,
    {
        ("temperature", "none_required"): "is no longer supported: current models refuse sampling parameters; "
        "set effort instead",
        ("labels", "too_long"): "at most {max_length} labels at once",
        ("labels", "string_pattern_mismatch"): LABEL_FORMAT,
    },
)


@dataclass(frozen=True, slots=True)
class NewVersion:
    template_id: uuid.UUID | None
    agent: AgentKind | None
    pairwise_judge: bool
    """The tenant's pairwise judge (created if needed), as `agent` names an agent's."""
    system_text: str
    user_template: str
    model: str | None
    max_tokens: int | None
    effort: str | None
    temperature: float | None
    """Deprecated input, refused when set: old clients learn why instead of having it silently ignored."""
    note: str | None
    labels: list[str]


def allowed_models(settings: Settings) -> list[str]:
    return list(dict.fromkeys([settings.llm_model, *settings.allowed_models]))


async def _own_template(session: AsyncSession, template_id: uuid.UUID | None, field: str) -> PromptTemplate:
    template = await prompts.get_template(session, template_id) if template_id else None
    if template is None:
        raise InvalidInput.at(field, "prompt template not found", ErrorCode.NOT_FOUND)
    if template.tenant_id is None:
        raise InvalidInput.at(
            field, "built-in templates are read-only; create a version by `agent` to override it", ErrorCode.CONFLICT
        )
    return template


async def _template_for(session: AsyncSession, scope: TenantScope, request: NewVersion) -> PromptTemplate:
    if [request.template_id is not None, request.agent is not None, request.pairwise_judge].count(True) != 1:
        raise InvalidInput.at("template_id", "give one of templateId, agent or pairwiseJudge: true")
    if request.template_id is not None:
        return await _own_template(session, request.template_id, "template_id")
    name = PAIRWISE_JUDGE if request.agent is None else request.agent.value
    return await prompts.find_template(session, scope.tenant_id, name) or await prompts.add_template(
        session,
        tenant_id=scope.tenant_id,
        agent=name,
        name=f"{name} (tenant override)",
        description="This tenant's own prompt; its labels take precedence over the built-in template's.",
    )


async def create_version(
    scope: TenantScope, author: uuid.UUID, request: NewVersion, settings: Settings
) -> PromptVersion:
    # only a missing value means the default: "" and 0 are refused like any other model or limit
    model = settings.llm_model if request.model is None else request.model
    max_tokens = settings.llm_max_tokens if request.max_tokens is None else request.max_tokens
    problems = validate_version(
        system_text=request.system_text,
        user_template=request.user_template,
        model=model,
        max_tokens=max_tokens,
        effort=request.effort,
        allowed_models=allowed_models(settings),
    )
    check = Checker()
    check.errors.extend(problems)
    valid = check.fields(
        VERSION_RULES, {"temperature": request.temperature, "note": request.note, "labels": request.labels}
    )
    check.raise_if_any()
    async with scope.session() as session:
        template = await _template_for(session, scope, request)
        fields = version_fields(
            template.agent,
            system_text=request.system_text,
            user_template=request.user_template,
            model=model,
            max_tokens=max_tokens,
            effort=cast(Effort, request.effort) if request.effort else builtin_effort(template.agent),
        )
        digest = content_hash(**fields)
        await prompts.lock_template(session, template.id)
        twin = await prompts.version_with_hash(session, template.id, digest)
        if twin is not None:
            raise InvalidInput.at("user_template", f"identical to version {twin}; nothing to save", ErrorCode.CONFLICT)
        version = await prompts.add_version(
            session, template, fields, digest=digest, author_id=author, note=valid.get("note")
        )
        for label in request.labels:
            await prompts.move_label(session, template, label, version, actor_id=author, action=prompts.LABEL_SET)
    return version


async def set_label(
    scope: TenantScope, actor: uuid.UUID, template_id: uuid.UUID | None, label: str, version_id: uuid.UUID | None
) -> PromptLabel:
    LABEL_RULES.validate({"label": label})
    async with scope.session() as session:
        template = await _own_template(session, template_id, "template_id")
        await prompts.lock_template(session, template.id)  # two requests adding the same new label
        version = await prompts.get_version(session, version_id) if version_id else None
        if version is None or version.template_id != template.id:
            raise InvalidInput.at("version_id", "no such version of this template", ErrorCode.NOT_FOUND)
        return await prompts.move_label(session, template, label, version, actor_id=actor, action=prompts.LABEL_SET)


async def rollback(scope: TenantScope, actor: uuid.UUID, template_id: uuid.UUID | None, label: str) -> PromptLabel:
    async with scope.session() as session:
        template = await _own_template(session, template_id, "template_id")
        current = await prompts.get_label(session, template.id, label)
        if current is None:
            raise InvalidInput.at("label", f"this template has no '{label}' label", ErrorCode.NOT_FOUND)
        target = await prompts.rollback_target(session, template.id, label, current.version_id)
        previous = await prompts.get_version(session, target) if target else None
        if previous is None:
            raise InvalidInput.at("label", f"'{label}' has no earlier version to roll back to", ErrorCode.CONFLICT)
        return await prompts.move_label(session, template, label, previous, actor_id=actor, action=prompts.ROLLBACK)


async def list_templates(scope: TenantScope, agent: AgentKind | None) -> list[PromptTemplate]:
    """The agents' templates (the pairwise judge's is not an agent's: `judge_templates`)."""
    async with scope.session() as session:
        return await prompts.list_templates(session, AGENT_NAMES if agent is None else [agent.value])


async def judge_templates(scope: TenantScope) -> list[PromptTemplate]:
    """The pairwise judge's templates: the tenant's override first, then the built-in one."""
    async with scope.session() as session:
        return await prompts.list_templates(session, [PAIRWISE_JUDGE])


@dataclass(frozen=True, slots=True)
class Preview:
    request: StructuredRequest
    input_tokens: int
    simulated: bool


async def render_preview(
    scope: TenantScope, llm: LlmClient, version_id: uuid.UUID | None, transcript_id: uuid.UUID | None
) -> Preview:
    async with scope.session() as session:
        inputs = (
            await load_inputs(scope, session, transcript_id=transcript_id, prompt_version_id=version_id)
            if version_id and transcript_id
            else None
        )
    if inputs is None:
        raise NotFound("Prompt version or transcript not found.")
    if inputs.context.agent == PAIRWISE_JUDGE:
        raise BadUserInput(
            "A pairwise judge's version renders with the two answers it compares: it runs in experiments "
            "started with pairwise: true."
        )
    try:
        tenant_key = tenant_cache_key(scope.tenant_id, llm.settings.anthropic_api_key)
        request = inputs.request(AGENTS[AgentKind(inputs.context.agent)], tenant_key=tenant_key)
    except (TemplateRenderError, UnknownModel) as error:
        raise BadUserInput(str(error)) from error
    tokens, simulated = await llm.count_tokens(request)
    return Preview(request, tokens, simulated)
