"""Prompt experiments: admins only; to anyone else an experiment does not exist."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, cast

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.scalars import JSON

from dealgraph.agents import outputs
from dealgraph.agents.kinds import AgentKind
from dealgraph.db import models
from dealgraph.db.models import Role
from dealgraph.schema.agent_results import Evidence
from dealgraph.schema.common import LoadedNode, UserError
from dealgraph.schema.context import Context
from dealgraph.schema.datasets import Dataset
from dealgraph.schema.prompts import PromptVersion
from dealgraph.services import experiment_scores, experiments
from dealgraph.services.experiment_scores import PairwiseWinner, Score, Verdict
from dealgraph.services.experiments import (
    Compared,
    ExperimentMode,
    ExperimentStatus,
    NewExperiment,
    PromptPick,
    RequestState,
)
from dealgraph.services.ids import node_uuid

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
Info = strawberry.Info[Context, None]


async def _none_for_each(ids: Sequence[uuid.UUID]) -> list[None]:
    return [None for _ in ids]


PAIRWISE = (
    "Also have the pairwise judge say which answer is better on each call, once both are in; its requests are sent "
    "LIVE in either mode and are part of the estimate."
)
JUDGE = (
    "With pairwise: the pairwise judge's label or version (pairwiseJudgeTemplates); its production label when not "
    "given."
)


@strawberry.input(description="A prompt label (its version for each agent), or one prompt version: give one of them.")
class PromptPickInput:
    label: str | None = None
    version_id: relay.GlobalID | None = None

    def pick(self) -> PromptPick:
        version = None if self.version_id is None else node_uuid(self.version_id, "PromptVersion") or uuid.UUID(int=0)
        return PromptPick(self.label, version)


@strawberry.input
class StartExperimentInput:
    dataset_id: relay.GlobalID
    agents: list[AgentKind]
    baseline: PromptPickInput
    candidate: PromptPickInput
    dataset_version: int | None = strawberry.field(default=None, description="The latest when not given.")
    mode: ExperimentMode = ExperimentMode.BATCH
    budget_usd: float | None = strawberry.field(
        default=None,
        description="Refused when the estimate is over it; at most, and by default, your tenant's experiment budget "
        "(viewer { tenant { appliedExperimentBudgetUsd } }).",
    )
    pairwise: bool = strawberry.field(default=False, description=PAIRWISE)
    judge: PromptPickInput | None = strawberry.field(default=None, description=JUDGE)

    def request(self) -> NewExperiment:
        compared = Compared(
            dataset_id=node_uuid(self.dataset_id, "Dataset"),
            dataset_version=self.dataset_version,
            agents=self.agents,
            baseline=self.baseline.pick(),
            candidate=self.candidate.pick(),
            pairwise=self.pairwise,
            judge=None if self.judge is None else self.judge.pick(),
        )
        return NewExperiment(compared=compared, mode=self.mode, budget_usd=self.budget_usd)


@strawberry.type(description="One side's scores: of one call, or summed over the experiment.")
class ExperimentScores:
    requests: int
    succeeded: int
    schema_failures: int = strawberry.field(description="Answers that did not match the schema (INVALID_OUTPUT).")
    truncated_or_refused: int = strawberry.field(description="OUTPUT_TRUNCATED or REFUSED answers.")
    other_failures: int
    pending: int
    evidence_verified: int
    evidence_total: int
    evidence_rate: float | None = strawberry.field(description="Share of quotes found in the transcript.")
    corrections_agreed: int
    corrections_total: int
    correction_agreement: float | None = strawberry.field(
        description="Share of corrected fields answered as corrected."
    )
    action_items: int
    stakeholders: int
    risks: int
    input_tokens: int
    output_tokens: int
    thinking_tokens: int
    cost_usd: float
    mean_latency_ms: float | None = strawberry.field(
        description="LIVE requests only: a batch has no per-request latency."
    )

    @classmethod
    def of(cls, scores: experiment_scores.SideScores) -> ExperimentScores:
        return cls(
            requests=scores.requests,
            succeeded=scores.succeeded,
            schema_failures=scores.schema_failures,
            truncated_or_refused=scores.truncated_or_refused,
            other_failures=scores.other_failures,
            pending=scores.pending,
            evidence_verified=scores.evidence_verified,
            evidence_total=scores.evidence_total,
            evidence_rate=scores.evidence_rate,
            corrections_agreed=scores.corrections_agreed,
            corrections_total=scores.corrections_total,
            correction_agreement=scores.correction_agreement,
            action_items=scores.action_items,
            stakeholders=scores.stakeholders,
            risks=scores.risks,
            input_tokens=scores.input_tokens,
            output_tokens=scores.output_tokens,
            thinking_tokens=scores.thinking_tokens,
            cost_usd=round(scores.cost_usd, 6),
            mean_latency_ms=scores.mean_latency_ms,
        )


@strawberry.type
class ScoreVerdict:
    score: Score
    verdict: Verdict


@strawberry.type(description="How many calls a score improved, regressed or left unchanged on.")
class ScoreCounts:
    score: Score
    improved: int
    regressed: int
    unchanged: int


@strawberry.type(
    description="A field the two answers differ on, with each side's quotes and the corrected value where a person gave one."
)
class FieldDiff:
    field: str = strawberry.field(description="target.field, as corrections name it, e.g. metrics.status.")
    baseline: str | None
    candidate: str | None
    expected: str | None
    baseline_evidence: list[Evidence] = strawberry.field(description="The quotes the baseline gave for this field.")
    candidate_evidence: list[Evidence] = strawberry.field(description="The quotes the candidate gave for this field.")

    @classmethod
    def of(cls, diff: experiment_scores.FieldDiff) -> FieldDiff:
        return cls(
            field=diff.field,
            baseline=diff.baseline,
            candidate=diff.candidate,
            expected=diff.expected,
            baseline_evidence=[_evidence(quote) for quote in diff.baseline_evidence],
            candidate_evidence=[_evidence(quote) for quote in diff.candidate_evidence],
        )


def _evidence(quote: dict[str, Any]) -> Evidence:
    return Evidence.from_pydantic(outputs.Evidence.model_validate(quote))


@strawberry.type(description="One request's state and failure.")
class ExperimentAnswer:
    state: RequestState
    error_code: str | None
    error_message: str | None
    result: JSON | None = strawberry.field(description="The agent's output, evidence verified.")
    row: strawberry.Private[models.ExperimentRequest]

    @classmethod
    def of(cls, row: models.ExperimentRequest | None) -> ExperimentAnswer | None:
        if row is None:
            return None
        return cls(
            state=RequestState(row.state),
            error_code=row.error_code,
            error_message=row.error_message,
            result=cast(JSON, row.result),
            row=row,
        )


@strawberry.type(
    description="The pairwise judge's verdict on one call and agent. It reads the two answers as A and B, never as "
    "baseline and candidate, and the experiment alternates which it shows first."
)
class PairwiseJudgment:
    state: RequestState
    error_code: str | None
    error_message: str | None = strawberry.field(description="Why it was SKIPPED or FAILED.")
    winner: PairwiseWinner | None = strawberry.field(description="Null until the judge has answered.")
    reason: str | None
    confidence: float | None
    evidence: list[Evidence] = strawberry.field(description="The quotes the verdict rests on, each verified.")
    shown_first: PairwiseWinner = strawberry.field(description="BASELINE or CANDIDATE: the answer shown as A.")
    cost_usd: float

    @classmethod
    def of(cls, judgment: experiment_scores.Judgment | None) -> PairwiseJudgment | None:
        if judgment is None:
            return None
        row, output = judgment.row, judgment.output
        return cls(
            state=RequestState(row.state),
            error_code=row.error_code,
            error_message=row.error_message,
            winner=judgment.winner,
            reason=None if output is None else output.reason,
            confidence=None if output is None else output.confidence,
            evidence=[] if output is None else [Evidence.from_pydantic(quote) for quote in output.evidence],
            shown_first=judgment.shown_first,
            cost_usd=round(row.cost_usd, 6),
        )


@strawberry.type(description="One call and agent: both answers, their scores, and the fields they differ on.")
class ExperimentCall:
    agent: AgentKind
    baseline: ExperimentAnswer | None
    candidate: ExperimentAnswer | None
    baseline_scores: ExperimentScores
    candidate_scores: ExperimentScores
    verdicts: list[ScoreVerdict]
    regressed: bool
    diff: list[FieldDiff]
    fields_compared: int
    fields_agreeing: int = strawberry.field(description="Fields the candidate answered as the baseline did.")
    judgment: PairwiseJudgment | None = strawberry.field(description="Null unless the experiment is pairwise.")
    transcript_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, call: experiment_scores.CallComparison) -> ExperimentCall:
        return cls(
            agent=AgentKind(call.agent),
            baseline=ExperimentAnswer.of(call.baseline),
            candidate=ExperimentAnswer.of(call.candidate),
            baseline_scores=ExperimentScores.of(call.baseline_scores),
            candidate_scores=ExperimentScores.of(call.candidate_scores),
            verdicts=[ScoreVerdict(score=score, verdict=found) for score, found in call.verdicts.items()],
            regressed=call.regressed,
            diff=[FieldDiff.of(row) for row in call.diff],
            fields_compared=call.fields_compared,
            fields_agreeing=call.fields_agreeing,
            judgment=PairwiseJudgment.of(call.judgment),
            transcript_id=call.transcript_id,
        )

    @strawberry.field
    async def transcript(self, info: Info) -> TranscriptType | None:
        from dealgraph.schema.transcripts import Transcript

        row = await info.context.loaders.transcript.load(self.transcript_id)
        return Transcript.from_row(row) if row is not None else None


@strawberry.type(description="The pairwise judge's verdicts, counted over every call and agent.")
class PairwiseCounts:
    candidate_wins: int
    baseline_wins: int
    ties: int
    unjudged: int = strawberry.field(description="No verdict (yet): skipped, failed, canceled or pending.")
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @classmethod
    def of(cls, counts: experiment_scores.PairwiseCounts | None) -> PairwiseCounts | None:
        if counts is None:
            return None
        return cls(
            candidate_wins=counts.wins[PairwiseWinner.CANDIDATE],
            baseline_wins=counts.wins[PairwiseWinner.BASELINE],
            ties=counts.wins[PairwiseWinner.TIE],
            unjudged=counts.unjudged,
            input_tokens=counts.input_tokens,
            output_tokens=counts.output_tokens,
            cost_usd=round(counts.cost_usd, 6),
        )


@strawberry.type
class ExperimentSummary:
    baseline: ExperimentScores
    candidate: ExperimentScores
    scores: list[ScoreCounts]
    fields_compared: int
    fields_agreeing: int
    pairwise: PairwiseCounts | None = strawberry.field(description="Null unless the experiment is pairwise.")


@strawberry.type
class StateCount:
    state: RequestState
    count: int


@strawberry.type(description="Admins: a candidate prompt run on a dataset version beside a baseline, and its scores.")
class Experiment(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    status: ExperimentStatus
    mode: ExperimentMode
    dataset_version: int
    agents: list[AgentKind]
    batch_id: str | None = strawberry.field(description="The Message Batch (BATCH), once sent.")
    budget_usd: float
    error_message: str | None
    created_at: datetime
    promoted_at: datetime | None
    row: strawberry.Private[models.Experiment]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        if info.context.viewer.role is not Role.ADMIN:
            return DataLoader(_none_for_each)
        return info.context.loaders.experiment

    @strawberry.field
    def baseline(self) -> str:
        return str(self.row.baseline["name"])

    @strawberry.field
    def candidate(self) -> str:
        return str(self.row.candidate["name"])

    @strawberry.field(
        description="What the estimate said it would cost at most, at the mode's price (the judge's requests, if "
        "pairwise, at the LIVE price)."
    )
    def estimated_cost_usd(self) -> float:
        return float(self.row.estimate["cost_usd"])

    @strawberry.field(description="Whether the pairwise judge compares the answers of each call.")
    def pairwise(self) -> bool:
        return self.row.judge_version_id is not None

    @strawberry.field(description="The pairwise judge's prompt version that compares them; null unless pairwise.")
    async def pairwise_judge_version(self, info: Info) -> PromptVersion | None:
        version_id = self.row.judge_version_id
        row = await info.context.loaders.prompt_version.load(version_id) if version_id else None
        return PromptVersion.from_row(row) if row is not None else None

    @strawberry.field
    async def dataset(self, info: Info) -> Dataset | None:
        row = await info.context.loaders.dataset.load(self.row.dataset_id)
        return Dataset.from_row(row) if row is not None else None

    @strawberry.field(description="How many requests are in each state.")
    async def request_states(self, info: Info) -> list[StateCount]:
        rows, _ = await experiments.requests_and_corrections(info.context.tenant, self.row.id)
        counts: dict[str, int] = {}
        for row in rows:
            counts[row.state] = counts.get(row.state, 0) + 1
        return [StateCount(state=RequestState(state), count=count) for state, count in sorted(counts.items())]

    @strawberry.field(description="Per call and agent, those that regressed on any score first.")
    async def calls(self, info: Info) -> list[ExperimentCall]:
        rows, found = await experiments.requests_and_corrections(info.context.tenant, self.row.id)
        return [ExperimentCall.of(call) for call in experiment_scores.compare(rows, found)]

    @strawberry.field
    async def summary(self, info: Info) -> ExperimentSummary:
        rows, found = await experiments.requests_and_corrections(info.context.tenant, self.row.id)
        summary = experiment_scores.summarize(experiment_scores.compare(rows, found))
        return ExperimentSummary(
            baseline=ExperimentScores.of(summary.baseline),
            candidate=ExperimentScores.of(summary.candidate),
            scores=[
                ScoreCounts(
                    score=score,
                    improved=counts[Verdict.IMPROVED],
                    regressed=counts[Verdict.REGRESSED],
                    unchanged=counts[Verdict.UNCHANGED],
                )
                for score, counts in summary.counts.items()
            ],
            fields_compared=summary.fields_compared,
            fields_agreeing=summary.fields_agreeing,
            pairwise=PairwiseCounts.of(summary.pairwise),
        )


@strawberry.type
class ExperimentPayload:
    experiment: Experiment | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="An experiment's progress: sent with each change, the last once it has ended.")
class ExperimentProgress:
    experiment: Experiment
    status: ExperimentStatus
    answered: int = strawberry.field(description="Requests no longer pending (answered, failed, canceled or stored).")
    total: int
    request_states: list[StateCount]

    @classmethod
    def of(cls, progress: experiments.Progress) -> ExperimentProgress:
        total = sum(progress.states.values())
        return cls(
            experiment=Experiment.from_row(progress.experiment),
            status=ExperimentStatus(progress.experiment.status),
            answered=total - progress.states.get("pending", 0),
            total=total,
            request_states=[
                StateCount(state=RequestState(state), count=count) for state, count in sorted(progress.states.items())
            ],
        )
