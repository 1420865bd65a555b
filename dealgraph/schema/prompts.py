"""Prompt templates: versions, labels, audit trail, diffs and previews."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from dealgraph.agents.judge import PAIRWISE_JUDGE
from dealgraph.db import models
from dealgraph.db.models import Role
from dealgraph.errors import BadUserInput
from dealgraph.prompts.templates import unified_diff
from dealgraph.schema.common import LoadedNode, UserError, referenced
from dealgraph.schema.connections import Connection, LoadedList, Pages
from dealgraph.schema.context import Context
from dealgraph.schema.enums import AgentKind, PromptKind
from dealgraph.schema.rows import FromRow, column
from dealgraph.schema.tenancy import User
from dealgraph.services.ids import node_uuid

if TYPE_CHECKING:
    from dealgraph.schema.experiments import Experiment

ExperimentType = Annotated["Experiment", strawberry.lazy("dealgraph.schema.experiments")]

Info = strawberry.Info[Context, None]


async def _user(info: Info, user_id: uuid.UUID | None) -> User | None:
    row = await info.context.loaders.user.load(user_id) if user_id else None
    return User.from_row(row) if row else None


async def _version(info: Info, version_id: uuid.UUID | None) -> PromptVersion | None:
    row = await info.context.loaders.prompt_version.load(version_id) if version_id else None
    return PromptVersion.from_row(row) if row else None


def diff_fields(version: models.PromptVersion) -> dict[str, Any]:
    return {
        "model": version.model,
        "max_tokens": version.max_tokens,
        "effort": version.effort,
        "system_text": version.system_text,
        "user_template": version.user_template,
    }


@strawberry.enum(description="`output_config.effort`: how much the model thinks and writes, lowest first.")
class EffortLevel(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    XHIGH = "xhigh"
    MAX = "max"


@strawberry.type(description="An immutable version of a prompt template.")
class PromptVersion(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    version: int
    system_text: str
    user_template: str
    model: str
    max_tokens: int
    effort: EffortLevel | None = strawberry.field(
        description="Sent as `output_config.effort`. Null: saved before effort existed; runs at the model's default."
    )
    temperature: float | None = strawberry.field(
        deprecation_reason="Never sent (current models refuse sampling parameters); kept on versions saved before "
        "`effort` replaced it.",
        metadata=column("legacy_temperature"),
    )
    output_schema: JSON = strawberry.field(
        description="The JSON schema of the agent's structured output (as sent in `output_config.format`) at creation."
    )
    note: str | None
    content_hash: str
    created_at: datetime
    row: strawberry.Private[models.PromptVersion]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        loaders = info.context.loaders
        return loaders.prompt_version if info.context.viewer.role is Role.ADMIN else loaders.agent_prompt_version

    @strawberry.field
    async def author(self, info: Info) -> User | None:
        return await _user(info, self.row.author_id)

    @strawberry.field
    async def template(self, info: Info) -> PromptTemplate:
        return PromptTemplate.from_row(
            referenced(await info.context.loaders.prompt_template.load(self.row.template_id))
        )


@strawberry.type(description="A label (e.g. production, staging) and the version it points at.")
class PromptLabel(FromRow):
    name: str
    updated_at: datetime
    row: strawberry.Private[models.PromptLabel]

    @strawberry.field
    async def version(self, info: Info) -> PromptVersion:
        version = await _version(info, self.row.version_id)
        assert version is not None
        return version

    @strawberry.field
    async def updated_by(self, info: Info) -> User | None:
        return await _user(info, self.row.updated_by_id)


@strawberry.type(description="One change: a version created, a label moved (from → to), or a rollback.")
class PromptAuditEntry(FromRow):
    action: str = strawberry.field(description="version_created, label_set or rollback.")
    label: str | None
    created_at: datetime
    row: strawberry.Private[models.PromptAudit]

    @strawberry.field
    async def from_version(self, info: Info) -> PromptVersion | None:
        return await _version(info, self.row.from_version_id)

    @strawberry.field
    async def to_version(self, info: Info) -> PromptVersion | None:
        return await _version(info, self.row.to_version_id)

    @strawberry.field(description="Who made the change; null for the built-in defaults loaded at start-up.")
    async def actor(self, info: Info) -> User | None:
        return await _user(info, self.row.actor_id)

    @strawberry.field(description="The experiment whose promotion moved the label (admins only).")
    async def experiment(self, info: Info) -> ExperimentType | None:
        from dealgraph.schema.experiments import Experiment

        if self.row.experiment_id is None or info.context.viewer.role is not Role.ADMIN:
            return None
        row = await info.context.loaders.experiment.load(self.row.experiment_id)
        return Experiment.from_row(row) if row is not None else None


@strawberry.type(
    description="An agent's prompt, or (admins only) the pairwise judge's that experiments compare answers with."
)
class PromptTemplate(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    name: str
    description: str
    created_at: datetime
    row: strawberry.Private[models.PromptTemplate]

    @strawberry.field(description="A global default shipped with dealgraph (read-only).")
    def is_builtin(self) -> bool:
        return self.row.tenant_id is None

    @strawberry.field
    def kind(self) -> PromptKind:
        return PromptKind.of(self.row.agent)

    @strawberry.field(description="The agent this prompt is for; null for the pairwise judge's.")
    def agent(self) -> AgentKind | None:
        return None if self.row.agent == PAIRWISE_JUDGE else AgentKind(self.row.agent)

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        loaders = info.context.loaders
        return loaders.prompt_template if info.context.viewer.role is Role.ADMIN else loaders.agent_prompt_template

    @relay.connection(Connection[PromptVersion], description="Newest first.")
    async def versions(self, info: Info) -> Pages[PromptVersion]:
        rows = await info.context.loaders.versions_by_template.load(self.row.id)
        return LoadedList(rows, PromptVersion.from_row, "prompt-versions")

    @strawberry.field
    async def labels(self, info: Info) -> list[PromptLabel]:
        return [PromptLabel.from_row(row) for row in await info.context.loaders.labels_by_template.load(self.row.id)]

    @relay.connection(Connection[PromptAuditEntry], description="Changes to this template, newest first.")
    async def audit(self, info: Info) -> Pages[PromptAuditEntry]:
        rows = await info.context.loaders.audit_by_template.load(self.row.id)
        return LoadedList(rows, PromptAuditEntry.from_row, "prompt-audit")

    @strawberry.field(description="Unified diff between two versions of this template (empty when identical).")
    async def diff(self, info: Info, from_version_id: relay.GlobalID, to_version_id: relay.GlobalID) -> str:
        versions = []
        for global_id in (from_version_id, to_version_id):
            row = await info.context.loaders.prompt_version.load(
                node_uuid(global_id, "PromptVersion") or uuid.UUID(int=0)
            )
            if row is None or row.template_id != self.row.id:
                raise BadUserInput("Both versions must belong to this template.")
            versions.append(row)
        old, new = versions
        return unified_diff(
            f"{self.row.agent} v{old.version}", diff_fields(old), f"{self.row.agent} v{new.version}", diff_fields(new)
        )


@strawberry.type(description="Exactly what an analysis with this version would send, and its size.")
class RenderedPrompt:
    model: str
    system: str
    transcript_block: str = strawberry.field(description="Sent as a cached system block after `system`.")
    user: str
    input_tokens: int = strawberry.field(
        description="Counted by the Messages API count_tokens endpoint (output format included)."
    )
    simulated: bool = strawberry.field(description="True when counted by the local stand-in (an estimate).")


@strawberry.type
class PromptVersionPayload:
    prompt_version: PromptVersion | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class PromptLabelPayload:
    label: PromptLabel | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(
    description="Give `templateId` (one of your templates), `agent` (your override, created if needed) or "
    "`pairwiseJudge: true` (your override of the pairwise judge, created if needed)."
)
class PromptVersionInput:
    system_text: str
    user_template: str = strawberry.field(description="Jinja (sandboxed); see the variables in the README.")
    template_id: relay.GlobalID | None = None
    agent: AgentKind | None = None
    pairwise_judge: bool = False
    model: str | None = strawberry.field(default=None, description="Default: the server's model.")
    max_tokens: int | None = strawberry.field(
        default=None, description="Default: the server's DEALGRAPH_LLM_MAX_TOKENS."
    )
    effort: EffortLevel | None = strawberry.field(default=None, description="Default: the agent's built-in effort.")
    temperature: float | None = strawberry.field(
        default=None,
        deprecation_reason="Current models refuse sampling parameters; a value is refused with a field error. "
        "Use effort.",
    )
    note: str | None = None
    labels: list[str] = strawberry.field(
        default_factory=list, description='Labels to point at the new version at once, e.g. ["staging"].'
    )
