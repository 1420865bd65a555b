"""Analyses of a transcript and the runs of their agents, with typed results and metadata."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.schema.agent_results import AgentResult, agent_result
from dealgraph.schema.common import LoadedNode, UserError, global_id, referenced
from dealgraph.schema.context import Context
from dealgraph.schema.enums import AgentKind, AnalysisStatus, RunStatus
from dealgraph.schema.tenancy import User

if TYPE_CHECKING:
    from dealgraph.schema.prompts import PromptVersion
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
PromptVersionType = Annotated["PromptVersion", strawberry.lazy("dealgraph.schema.prompts")]
Info = strawberry.Info[Context, None]


@strawberry.type(description="Why a run failed: a stable code (e.g. OVERLOADED, INVALID_OUTPUT) and a message.")
class AgentError:
    code: str
    message: str


@strawberry.type(description="How a result was produced.")
class AgentRunMetadata:
    model: str
    prompt_version_id: strawberry.ID
    prompt_version: int = strawberry.field(description="Version number within its template.")
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    thinking_tokens: int = strawberry.field(description="Part of outputTokens the model spent thinking.")
    effort: str | None = strawberry.field(description="The effort the run was sent with (low … max).")
    cache_role: str | None = strawberry.field(
        description="parallel, leader (wrote the transcript's cache entry) or follower (waited for it, then read it)."
    )
    cache_wait_ms: int = strawberry.field(description="How long a follower waited for its leader's response to start.")
    latency_ms: int
    attempts: int = strawberry.field(description="Messages API requests made, retries included.")
    simulated: bool = strawberry.field(description="True when produced by the local stand-in, not by Claude.")
    evidence_verified: int
    evidence_total: int
    reused_from_run_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="Set when this result was reused from an identical earlier run (same transcript content, "
        "prompt version and model) instead of calling the model; tokens, latency and attempts are then 0.",
    )

    @classmethod
    def of(cls, run: models.AgentRun) -> AgentRunMetadata:
        stored = run.metadata_ or {}
        reused = stored.get("reused_from_run_id")
        return cls(
            model=run.model or "",
            prompt_version_id=global_id("PromptVersion", run.prompt_version_id),
            prompt_version=int(stored["prompt_version"]),
            input_tokens=run.input_tokens,
            output_tokens=run.output_tokens,
            cache_read_tokens=run.cache_read_tokens,
            cache_write_tokens=run.cache_write_tokens,
            thinking_tokens=int(stored.get("thinking_tokens", 0)),
            effort=stored.get("effort"),
            cache_role=stored.get("cache_role"),
            cache_wait_ms=int(stored.get("cache_wait_ms", 0)),
            latency_ms=run.latency_ms or 0,
            attempts=int(stored["attempts"]),
            simulated=run.simulated,
            evidence_verified=int(stored["evidence_verified"]),
            evidence_total=int(stored["evidence_total"]),
            reused_from_run_id=global_id("AgentRun", reused) if reused else None,
        )


@strawberry.type
class AgentRun(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    agent: AgentKind
    status: RunStatus
    attempts: int = strawberry.field(description="Times an analysis pool claimed this run.")
    queued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    simulated: bool
    row: strawberry.Private[models.AgentRun]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.agent_run

    @strawberry.field
    def error(self) -> AgentError | None:
        if self.row.error_code is None:
            return None
        return AgentError(code=self.row.error_code, message=self.row.error_message or "")

    @strawberry.field
    def metadata(self) -> AgentRunMetadata | None:
        return AgentRunMetadata.of(self.row) if self.row.metadata_ else None

    @strawberry.field(description="The prompt version this run was pinned to when the analysis started.")
    async def prompt_version(self, info: Info) -> PromptVersionType:
        from dealgraph.schema.prompts import PromptVersion

        return PromptVersion.from_row(
            referenced(await info.context.loaders.prompt_version.load(self.row.prompt_version_id))
        )

    @strawberry.field
    def result(self) -> AgentResult | None:
        return agent_result(self.row.agent, self.row.result) if self.row.result is not None else None

    @strawberry.field
    async def analysis(self, info: Info) -> Analysis:
        return Analysis.from_row(referenced(await info.context.loaders.analysis.load(self.row.analysis_id)))


@strawberry.type
class AnalysisTotals:
    succeeded: int
    failed: int
    cancelled: int
    pending: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int

    @classmethod
    def of(cls, runs: list[models.AgentRun]) -> AnalysisTotals:
        def tokens(column: str) -> int:
            return sum(getattr(run, column) for run in runs)

        def count(status: models.RunStatus) -> int:
            return sum(run.status is status for run in runs)

        return cls(
            succeeded=count(models.RunStatus.SUCCEEDED),
            failed=count(models.RunStatus.FAILED),
            cancelled=count(models.RunStatus.CANCELLED),
            pending=count(models.RunStatus.QUEUED) + count(models.RunStatus.RUNNING),
            input_tokens=tokens("input_tokens"),
            output_tokens=tokens("output_tokens"),
            cache_read_tokens=tokens("cache_read_tokens"),
            cache_write_tokens=tokens("cache_write_tokens"),
        )


@strawberry.type
class Analysis(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    status: AnalysisStatus
    agents: list[AgentKind]
    idempotency_key: str | None
    prompt_label: str
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    row: strawberry.Private[models.Analysis]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.analysis

    @strawberry.field
    async def transcript(self, info: Info) -> TranscriptType:
        from dealgraph.schema.transcripts import Transcript

        return Transcript.from_row(await info.context.loaders.transcript.load(self.row.transcript_id))

    @strawberry.field
    async def requested_by(self, info: Info) -> User | None:
        user = await info.context.loaders.user.load(self.row.requested_by_id) if self.row.requested_by_id else None
        return User.from_row(user) if user else None

    @strawberry.field(description="One run per requested agent, in agent order.")
    async def agent_runs(self, info: Info) -> list[AgentRun]:
        return [AgentRun.from_row(run) for run in await info.context.loaders.runs_by_analysis.load(self.row.id)]

    @strawberry.field
    async def totals(self, info: Info) -> AnalysisTotals:
        return AnalysisTotals.of(await info.context.loaders.runs_by_analysis.load(self.row.id))

    @strawberry.field(description="True when any result came from the local stand-in (simulated output).")
    async def simulated(self, info: Info) -> bool:
        return any(run.simulated for run in await info.context.loaders.runs_by_analysis.load(self.row.id))


@strawberry.type
class AnalysisPayload:
    analysis: Analysis | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class AgentRunPayload:
    agent_run: AgentRun | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
