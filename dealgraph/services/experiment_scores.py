"""Scores of an experiment, no judge needed: per call and agent, the baseline's and the candidate's answers
compared on what can be counted (schema failures, truncated or refused answers, the share of quotes found in
the transcript, agreement with people's corrections), field by field, and summed up.

A score is "improved", "regressed" or "unchanged" per call; the summary counts them per score and lists the
calls that regressed first. Item counts, tokens, cost and latency are reported, not judged. An experiment
with the pairwise judge on also has its verdict per call (`Judgment`), counted apart from these scores.
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from dealgraph.agents.judge import PairwiseChoice, PairwiseJudgeOutput
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs.meddpicc import MEDDPICC_ELEMENTS
from dealgraph.db.models import ExperimentRequest, RequestSide, ResultCorrection
from dealgraph.services.corrections import CorrectedField


class Verdict(enum.StrEnum):
    IMPROVED = "improved"
    REGRESSED = "regressed"
    UNCHANGED = "unchanged"


class Score(enum.StrEnum):
    """What is judged per call; for the first two fewer is better, for the others more is."""

    SCHEMA_FAILURES = "schema_failures"
    TRUNCATED_OR_REFUSED = "truncated_or_refused"
    EVIDENCE_RATE = "evidence_rate"
    CORRECTION_AGREEMENT = "correction_agreement"


_FEWER_IS_BETTER = {Score.SCHEMA_FAILURES, Score.TRUNCATED_OR_REFUSED}
_ITEMS = {AgentKind.ACTION_ITEMS: "items", AgentKind.STAKEHOLDERS: "stakeholders"}


@dataclass(frozen=True, slots=True)
class FieldAnswer:
    """A comparable field's value and the quotes the answer gave for it (verified flags set by the server)."""

    value: str | None
    evidence: list[dict[str, Any]]


def answered_fields(agent: str, result: dict[str, Any] | None) -> dict[str, FieldAnswer]:
    """The comparable fields of a result, keyed as corrections name them (`target.field`)."""
    if result is None:
        return {}
    if agent == AgentKind.MEDDPICC:
        elements = {element: result.get(element) or {} for element in MEDDPICC_ELEMENTS}
        return {
            f"{name}.status": FieldAnswer(element.get("status"), element.get("evidence") or [])
            for name, element in elements.items()
        }
    if agent == AgentKind.ACTION_ITEMS:
        found: dict[str, FieldAnswer] = {}
        for item in result.get("items") or []:
            for name in ("owner", "due_date"):
                found[f"{item['description']}.{name}"] = FieldAnswer(item.get(name), item.get("evidence") or [])
        return found
    if agent == AgentKind.STAKEHOLDERS:
        return {
            f"{person['name']}.committee_role": FieldAnswer(person.get("committee_role"), person.get("evidence") or [])
            for person in result.get("stakeholders") or []
        }
    return {}


def result_fields(agent: str, result: dict[str, Any] | None) -> dict[str, str | None]:
    return {key: answer.value for key, answer in answered_fields(agent, result).items()}


def item_counts(agent: str, result: dict[str, Any] | None) -> dict[str, int]:
    if result is None:
        return {}
    if agent == AgentKind.MEETING_INTELLIGENCE:
        return {"risks": len(result.get("risks") or [])}
    key = _ITEMS.get(AgentKind(agent))
    return {} if key is None else {"action_items" if key == "items" else key: len(result.get(key) or [])}


@dataclass(frozen=True, slots=True)
class SideScores:
    """One answer's (or a whole side's) scores."""

    requests: int = 0
    succeeded: int = 0
    schema_failures: int = 0
    truncated_or_refused: int = 0
    other_failures: int = 0
    evidence_verified: int = 0
    evidence_total: int = 0
    corrections_agreed: int = 0
    corrections_total: int = 0
    action_items: int = 0
    stakeholders: int = 0
    risks: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    thinking_tokens: int = 0
    cost_usd: float = 0.0
    latency_ms_total: int = 0
    timed: int = 0
    pending: int = 0

    def __add__(self, other: SideScores) -> SideScores:
        return SideScores(*(a + b for a, b in zip(_values(self), _values(other), strict=True)))

    @property
    def evidence_rate(self) -> float | None:
        return self.evidence_verified / self.evidence_total if self.evidence_total else None

    @property
    def correction_agreement(self) -> float | None:
        return self.corrections_agreed / self.corrections_total if self.corrections_total else None

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_ms_total / self.timed if self.timed else None

    def value(self, score: Score) -> float | None:
        return float(getattr(self, score.value)) if score in _FEWER_IS_BETTER else getattr(self, score.value)


def _values(scores: SideScores) -> list[Any]:
    return [getattr(scores, name) for name in SideScores.__dataclass_fields__]


def side_scores(row: ExperimentRequest | None, expected: dict[str, str | None]) -> SideScores:
    if row is None:
        return SideScores()
    fields = result_fields(row.agent, row.result)
    agreed = sum(fields.get(key) == value for key, value in expected.items())
    counts = item_counts(row.agent, row.result)
    return SideScores(
        requests=1,
        succeeded=int(row.state in ("succeeded", "stored")),
        schema_failures=int(row.error_code == "INVALID_OUTPUT"),
        truncated_or_refused=int(row.error_code in ("OUTPUT_TRUNCATED", "REFUSED")),
        other_failures=int(row.state in ("failed", "canceled") and row.error_code not in _JUDGED_FAILURES),
        evidence_verified=row.evidence_verified,
        evidence_total=row.evidence_total,
        corrections_agreed=agreed if row.result is not None else 0,
        corrections_total=len(expected) if row.state in ("succeeded", "stored") else 0,
        action_items=counts.get("action_items", 0),
        stakeholders=counts.get("stakeholders", 0),
        risks=counts.get("risks", 0),
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        thinking_tokens=row.thinking_tokens,
        cost_usd=row.cost_usd,
        latency_ms_total=row.latency_ms or 0,
        timed=int(row.latency_ms is not None),
        pending=int(row.state == "pending"),
    )


_JUDGED_FAILURES = ("INVALID_OUTPUT", "OUTPUT_TRUNCATED", "REFUSED")


@dataclass(frozen=True, slots=True)
class FieldDiff:
    field: str
    baseline: str | None
    candidate: str | None
    expected: str | None
    """The corrected value, where a person corrected this field."""
    baseline_evidence: list[dict[str, Any]]
    candidate_evidence: list[dict[str, Any]]


class PairwiseWinner(enum.StrEnum):
    BASELINE = "baseline"
    CANDIDATE = "candidate"
    TIE = "tie"


_SHOWN_SECOND = {PairwiseWinner.BASELINE: PairwiseWinner.CANDIDATE, PairwiseWinner.CANDIDATE: PairwiseWinner.BASELINE}


@dataclass(frozen=True, slots=True)
class Judgment:
    """The pairwise judge's request on one call and agent, and its verdict read back as sides."""

    row: ExperimentRequest
    shown_first: PairwiseWinner
    """The side the judge was shown first, as answer A."""

    @property
    def output(self) -> PairwiseJudgeOutput | None:
        return None if self.row.result is None else PairwiseJudgeOutput.model_validate(self.row.result)

    @property
    def winner(self) -> PairwiseWinner | None:
        """None until the judge has answered."""
        output = self.output
        if output is None:
            return None
        if output.winner is PairwiseChoice.TIE:
            return PairwiseWinner.TIE
        return self.shown_first if output.winner is PairwiseChoice.A else _SHOWN_SECOND[self.shown_first]

    @classmethod
    def of(cls, row: ExperimentRequest | None) -> Judgment | None:
        return None if row is None else cls(row, PairwiseWinner(str(row.shown_first)))


@dataclass(frozen=True, slots=True)
class CallComparison:
    transcript_id: uuid.UUID
    agent: str
    baseline: ExperimentRequest | None
    candidate: ExperimentRequest | None
    baseline_scores: SideScores
    candidate_scores: SideScores
    verdicts: dict[Score, Verdict]
    diff: list[FieldDiff]
    fields_compared: int
    fields_agreeing: int
    judgment: Judgment | None
    """The pairwise judge's, when the experiment has it on."""

    @property
    def regressed(self) -> bool:
        return Verdict.REGRESSED in self.verdicts.values()


def verdict(score: Score, baseline: float | None, candidate: float | None) -> Verdict:
    if baseline is None or candidate is None or baseline == candidate:
        return Verdict.UNCHANGED
    better = candidate < baseline if score in _FEWER_IS_BETTER else candidate > baseline
    return Verdict.IMPROVED if better else Verdict.REGRESSED


def _expected(corrections: Iterable[ResultCorrection]) -> dict[tuple[uuid.UUID, str], dict[str, str | None]]:
    found: dict[tuple[uuid.UUID, str], dict[str, str | None]] = defaultdict(dict)
    for correction in corrections:
        key = f"{correction.target}.{CorrectedField(correction.field).result_field}"
        found[(correction.transcript_id, correction.agent)][key] = correction.value
    return found


def _field_diff(key: str, old: FieldAnswer | None, new: FieldAnswer | None, expected: str | None) -> FieldDiff:
    return FieldDiff(
        field=key,
        baseline=old.value if old else None,
        candidate=new.value if new else None,
        expected=expected,
        baseline_evidence=old.evidence if old else [],
        candidate_evidence=new.evidence if new else [],
    )


def compare(rows: Sequence[ExperimentRequest], corrections: Iterable[ResultCorrection]) -> list[CallComparison]:
    """Every call and agent of the experiment, those that regressed on any score first."""
    expected = _expected(corrections)
    pairs: dict[tuple[uuid.UUID, str], dict[str, ExperimentRequest]] = defaultdict(dict)
    for row in rows:
        pairs[(row.transcript_id, row.agent)][row.side] = row
    compared = []
    for (transcript_id, agent), sides in pairs.items():
        wanted = expected.get((transcript_id, agent), {})
        baseline, candidate = sides.get("baseline"), sides.get("candidate")
        before, after = side_scores(baseline, wanted), side_scores(candidate, wanted)
        old = answered_fields(agent, baseline.result if baseline else None)
        new = answered_fields(agent, candidate.result if candidate else None)
        both = old.keys() & new.keys()
        diff = [
            _field_diff(key, old.get(key), new.get(key), wanted.get(key)) for key in sorted(old.keys() | new.keys())
        ]
        diff = [row for row in diff if row.baseline != row.candidate or row.field not in both]
        compared.append(
            CallComparison(
                transcript_id=transcript_id,
                agent=agent,
                baseline=baseline,
                candidate=candidate,
                baseline_scores=before,
                candidate_scores=after,
                verdicts={score: verdict(score, before.value(score), after.value(score)) for score in Score},
                diff=diff,
                fields_compared=len(both),
                fields_agreeing=sum(old[key].value == new[key].value for key in both),
                judgment=Judgment.of(sides.get(RequestSide.JUDGE)),
            )
        )
    return sorted(compared, key=lambda call: (not call.regressed, str(call.transcript_id), call.agent))


@dataclass(frozen=True, slots=True)
class PairwiseCounts:
    """The pairwise judge's verdicts over the experiment, and what its requests cost."""

    wins: dict[PairwiseWinner, int]
    unjudged: int
    """Calls the judge gave no verdict on (yet): skipped, failed, canceled or pending."""
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class Summary:
    baseline: SideScores
    candidate: SideScores
    counts: dict[Score, dict[Verdict, int]] = field(default_factory=dict)
    fields_compared: int = 0
    fields_agreeing: int = 0
    pairwise: PairwiseCounts | None = None


def summarize(calls: Sequence[CallComparison]) -> Summary:
    counts = {score: dict.fromkeys(Verdict, 0) for score in Score}
    for call in calls:
        for score, found in call.verdicts.items():
            counts[score][found] += 1
    return Summary(
        baseline=sum((call.baseline_scores for call in calls), SideScores()),
        candidate=sum((call.candidate_scores for call in calls), SideScores()),
        counts=counts,
        fields_compared=sum(call.fields_compared for call in calls),
        fields_agreeing=sum(call.fields_agreeing for call in calls),
        pairwise=_pairwise([call.judgment for call in calls if call.judgment is not None]),
    )


def _pairwise(judgments: Sequence[Judgment]) -> PairwiseCounts | None:
    if not judgments:
        return None
    winners = [judgment.winner for judgment in judgments]
    return PairwiseCounts(
        wins={side: winners.count(side) for side in PairwiseWinner},
        unjudged=winners.count(None),
        input_tokens=sum(judgment.row.input_tokens for judgment in judgments),
        output_tokens=sum(judgment.row.output_tokens for judgment in judgments),
        cost_usd=sum(judgment.row.cost_usd for judgment in judgments),
    )
