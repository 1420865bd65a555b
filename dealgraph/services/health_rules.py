"""Deal health from what is known of a deal: its warnings, each with its evidence, and the status they add up to.

Pure: `assess` takes the facts read for one deal (`DealFacts`) and the tenant's settings, and returns what the
health pool stores. Every warning carries its evidence: the verified quotes it rests on, or for a warning
about something absent, the calls that were checked. Status: UNKNOWN while no call of the deal has been
analysed (and no warning is raised then), OFF_TRACK with any high-severity warning, AT_RISK with any
medium one, else ON_TRACK. Closed deals (won or lost) raise no warning.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

from dealgraph.agents.outputs import MEDDPICC_ELEMENTS, ActionItemsOutput, MeddpiccStatus, MeetingOutput, Severity
from dealgraph.agents.outputs.common import Evidence
from dealgraph.agents.outputs.stakeholders import CommitteeRole
from dealgraph.db.models import DealStage
from dealgraph.services.people import Appearance
from dealgraph.services.qualification import CallResult, history, roll_up

OutputT = TypeVar("OutputT")


class WarningCode(enum.Enum):
    NO_ACTIVITY = "NO_ACTIVITY"
    NO_NEXT_STEP = "NO_NEXT_STEP"
    STALLED_IN_STAGE = "STALLED_IN_STAGE"
    NOT_ENOUGH_CONTACTS = "NOT_ENOUGH_CONTACTS"
    SINGLE_THREADED = "SINGLE_THREADED"
    NO_POWER = "NO_POWER"
    PRICING_NOT_DISCUSSED = "PRICING_NOT_DISCUSSED"
    RED_FLAG = "RED_FLAG"
    QUALIFICATION_SLIPPING = "QUALIFICATION_SLIPPING"


class WarningSeverity(enum.Enum):
    HIGH = "HIGH"
    MEDIUM = "MEDIUM"
    LOW = "LOW"


class HealthStatus(enum.Enum):
    ON_TRACK = "ON_TRACK"
    AT_RISK = "AT_RISK"
    OFF_TRACK = "OFF_TRACK"
    UNKNOWN = "UNKNOWN"


HEALTH_RANK = {HealthStatus.UNKNOWN: 0, HealthStatus.ON_TRACK: 1, HealthStatus.AT_RISK: 2, HealthStatus.OFF_TRACK: 3}
"""The board's HEALTH order: the worse, the higher."""


@dataclass(frozen=True, slots=True)
class Threshold:
    default: int
    least: int
    most: int
    meaning: str


@dataclass(frozen=True, slots=True)
class Rule:
    severity: WarningSeverity
    threshold: Threshold | None
    meaning: str


RULES: dict[WarningCode, Rule] = {
    WarningCode.NO_ACTIVITY: Rule(
        WarningSeverity.HIGH, Threshold(14, 1, 365, "days without a call"), "No call for more than N days."
    ),
    WarningCode.NO_NEXT_STEP: Rule(
        WarningSeverity.MEDIUM,
        None,
        "No action item (from the action-items agent) with a due date not yet passed, on any analysed call.",
    ),
    WarningCode.STALLED_IN_STAGE: Rule(
        WarningSeverity.MEDIUM, Threshold(30, 1, 365, "days in the stage"), "The stage unchanged for more than N days."
    ),
    WarningCode.NOT_ENOUGH_CONTACTS: Rule(
        WarningSeverity.MEDIUM,
        Threshold(3, 2, 50, "buyer-side people"),
        "Fewer than N buyer-side people spoke on the deal's calls (two or more: one is SINGLE_THREADED).",
    ),
    WarningCode.SINGLE_THREADED: Rule(
        WarningSeverity.HIGH, None, "At most one buyer-side person spoke on the deal's calls."
    ),
    WarningCode.NO_POWER: Rule(
        WarningSeverity.MEDIUM,
        None,
        "MEDDPICC has not identified the economic buyer, or nobody who spoke on a call is the economic buyer "
        "(stakeholder agent).",
    ),
    WarningCode.PRICING_NOT_DISCUSSED: Rule(
        WarningSeverity.LOW, None, "Keyword search finds no pricing moment on any of the deal's calls."
    ),
    WarningCode.RED_FLAG: Rule(
        WarningSeverity.HIGH,
        Threshold(30, 1, 365, "days a call counts as recent"),
        "A high-severity risk (meeting intelligence) with a verified quote, on a call of the last N days.",
    ),
    WarningCode.QUALIFICATION_SLIPPING: Rule(
        WarningSeverity.MEDIUM,
        Threshold(1, 1, 100, "points the score fell by, on a 0-100 scale"),
        "The MEDDPICC score of the latest analysed call is at least N points (of 100) below the call before.",
    ),
}

PRICING_QUERY = (
    'pricing OR price OR cost OR budget OR dollars OR euros OR quote OR discount OR licence OR license OR "order form"'
)
"""What `PRICING_NOT_DISCUSSED` searches the deal's calls for (KEYWORD mode: the same answer on every server)."""


@dataclass(frozen=True, slots=True)
class WarningSetting:
    enabled: bool
    threshold: int | None


def settings_from(stored: Mapping[str, Any]) -> dict[WarningCode, WarningSetting]:
    """Every warning's setting: what the tenant saved, else the default (on, the default threshold)."""
    settings = {}
    for code, rule in RULES.items():
        saved = stored.get(code.value, {})
        default = rule.threshold.default if rule.threshold else None
        settings[code] = WarningSetting(bool(saved.get("enabled", True)), saved.get("threshold", default))
    return settings


@dataclass(frozen=True, slots=True)
class Quote:
    """A verified quote from one call."""

    transcript_id: uuid.UUID
    quote: str
    utterance_index: int | None
    speaker: str | None
    start: float | None

    @classmethod
    def verified(cls, transcript_id: uuid.UUID, evidence: Iterable[Evidence]) -> list[Quote]:
        return [cls(transcript_id, e.quote, e.utterance_index, e.speaker, e.start) for e in evidence if e.verified]

    def to_json(self) -> dict[str, Any]:
        return {
            "transcript_id": str(self.transcript_id),
            "quote": self.quote,
            "utterance_index": self.utterance_index,
            "speaker": self.speaker,
            "start": self.start,
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> Quote:
        return cls(
            uuid.UUID(stored["transcript_id"]),
            stored["quote"],
            stored["utterance_index"],
            stored["speaker"],
            stored["start"],
        )


@dataclass(frozen=True, slots=True)
class HealthWarning:
    code: WarningCode
    severity: WarningSeverity
    message: str
    since: datetime
    calls: list[uuid.UUID]
    """The calls the warning rests on (for an absence, the calls checked)."""
    quotes: list[Quote] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "code": self.code.value,
            "severity": self.severity.value,
            "message": self.message,
            "since": self.since.isoformat(),
            "calls": [str(call) for call in self.calls],
            "quotes": [quote.to_json() for quote in self.quotes],
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> HealthWarning:
        return cls(
            code=WarningCode(stored["code"]),
            severity=WarningSeverity(stored["severity"]),
            message=stored["message"],
            since=datetime.fromisoformat(stored["since"]),
            calls=[uuid.UUID(call) for call in stored["calls"]],
            quotes=[Quote.from_json(quote) for quote in stored["quotes"]],
        )


@dataclass(frozen=True, slots=True)
class NextStep:
    """The first open action item whose due date has not passed."""

    description: str
    due_date: date
    owner: str | None
    transcript_id: uuid.UUID
    quotes: list[Quote]

    def to_json(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "due_date": self.due_date.isoformat(),
            "owner": self.owner,
            "transcript_id": str(self.transcript_id),
            "quotes": [quote.to_json() for quote in self.quotes],
        }

    @classmethod
    def from_json(cls, stored: Mapping[str, Any]) -> NextStep:
        return cls(
            stored["description"],
            date.fromisoformat(stored["due_date"]),
            stored["owner"],
            uuid.UUID(stored["transcript_id"]),
            [Quote.from_json(quote) for quote in stored["quotes"]],
        )


@dataclass(frozen=True, slots=True)
class Call:
    transcript_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class Analysed(Generic[OutputT]):
    """One call's latest successful result of one agent."""

    call: Call
    output: OutputT


@dataclass(frozen=True, slots=True)
class DealFacts:
    """What health is computed from, read for one deal at `now`. Lists of calls are newest first."""

    now: datetime
    stage: DealStage
    stage_entered_at: datetime
    calls: list[Call]
    meddpicc: list[CallResult]
    meetings: list[Analysed[MeetingOutput]]
    action_items: list[Analysed[ActionItemsOutput]]
    people: list[Appearance]
    pricing_discussed: bool

    @property
    def analysed(self) -> list[uuid.UUID]:
        """The calls with any analysis result, newest first."""
        ids = {c.transcript_id for c in self.meddpicc}
        ids |= {a.call.transcript_id for a in self.meetings} | {a.call.transcript_id for a in self.action_items}
        return [call.transcript_id for call in self.calls if call.transcript_id in ids]

    @property
    def buyers(self) -> list[Appearance]:
        return [seen for seen in self.people if seen.person.side == "buyer"]


@dataclass(frozen=True, slots=True)
class Assessment:
    status: HealthStatus
    warnings: list[HealthWarning]
    next_step: NextStep | None
    recheck_at: datetime | None
    """When time alone would next change a day-based warning."""


_CLOSED = {DealStage.CLOSED_WON, DealStage.CLOSED_LOST}


def assess(
    facts: DealFacts, settings: Mapping[WarningCode, WarningSetting], previous: Sequence[HealthWarning] = ()
) -> Assessment:
    """`previous`: the warnings stored before; one still raised keeps the time it started (`since`)."""
    next_step = _next_step(facts)
    if not facts.analysed:
        return Assessment(HealthStatus.UNKNOWN, [], next_step, None)
    if facts.stage in _CLOSED:
        return Assessment(HealthStatus.ON_TRACK, [], next_step, None)
    check = _Checks(facts, settings, next_step)
    for code, setting in settings.items():
        if setting.enabled:
            _CHECKS[code](check, setting.threshold)
    started = {w.code: w.since for w in previous}
    warnings = [
        HealthWarning(w.code, w.severity, w.message, started.get(w.code, w.since), w.calls, w.quotes)
        for w in check.raised
    ]
    severities = {w.severity for w in warnings}
    if WarningSeverity.HIGH in severities:
        status = HealthStatus.OFF_TRACK
    elif WarningSeverity.MEDIUM in severities:
        status = HealthStatus.AT_RISK
    else:
        status = HealthStatus.ON_TRACK
    future = [moment for moment in check.boundaries if moment > facts.now]
    return Assessment(status, warnings, next_step, min(future, default=None))


def _calls(count: int) -> str:
    return f"{count} call" if count == 1 else f"{count} calls"


def _midnight_after(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


def _next_step(facts: DealFacts) -> NextStep | None:
    current = facts.now.date()
    upcoming = [
        (item.due_date, analysed.call, item)
        for analysed in facts.action_items
        for item in analysed.output.items
        if item.due_date is not None and item.due_date >= current
    ]
    if not upcoming:
        return None
    due, call, item = min(upcoming, key=lambda entry: (entry[0], -entry[1].occurred_at.timestamp()))
    return NextStep(
        item.description, due, item.owner, call.transcript_id, Quote.verified(call.transcript_id, item.evidence)
    )


class _Checks:
    """Each check raises its warning (or not) and notes when time alone would change its answer."""

    def __init__(
        self, facts: DealFacts, settings: Mapping[WarningCode, WarningSetting], next_step: NextStep | None
    ) -> None:
        self.facts = facts
        self.settings = settings
        self.next_step = next_step
        self.raised: list[HealthWarning] = []
        self.boundaries: list[datetime] = []

    def raise_(
        self, code: WarningCode, message: str, since: datetime, calls: Sequence[uuid.UUID], quotes: Sequence[Quote] = ()
    ) -> None:
        self.raised.append(HealthWarning(code, RULES[code].severity, message, since, list(calls), list(quotes)))

    def no_activity(self, days: int | None) -> None:
        assert days is not None
        latest = self.facts.calls[0]
        due = latest.occurred_at + timedelta(days=days)
        self.boundaries.append(due)
        if self.facts.now > due:
            idle = (self.facts.now - latest.occurred_at).days
            message = f"No call for {idle} days (the limit is {days}); the last was on {latest.occurred_at:%Y-%m-%d}."
            self.raise_(WarningCode.NO_ACTIVITY, message, due, [latest.transcript_id])

    def no_next_step(self, _: int | None) -> None:
        items = self.facts.action_items
        if self.next_step is not None:
            self.boundaries.append(_midnight_after(self.next_step.due_date))
            return
        dated = [i.due_date for a in items for i in a.output.items if i.due_date is not None]
        since = _midnight_after(max(dated)) if dated else self.facts.calls[0].occurred_at
        checked = [a.call.transcript_id for a in items]
        message = (
            f"No action item on the {_calls(len(checked))} analysed has a due date ahead: the deal has no next step."
        )
        self.raise_(WarningCode.NO_NEXT_STEP, message, since, checked)

    def stalled_in_stage(self, days: int | None) -> None:
        assert days is not None
        entered = self.facts.stage_entered_at
        due = entered + timedelta(days=days)
        self.boundaries.append(due)
        if self.facts.now > due:
            stage = self.facts.stage.value.replace("_", " ")
            message = f"In {stage} for {(self.facts.now - entered).days} days (the limit is {days})."
            since_entered = [c.transcript_id for c in self.facts.calls if c.occurred_at >= entered]
            self.raise_(WarningCode.STALLED_IN_STAGE, message, due, since_entered)

    def _contacts(self) -> tuple[int, list[uuid.UUID], datetime]:
        checked = [c.transcript_id for c in self.facts.calls]
        return len(self.facts.buyers), checked, self.facts.calls[-1].occurred_at

    def single_threaded(self, _: int | None) -> None:
        engaged, checked, since = self._contacts()
        if engaged <= 1:
            who = f"only {self.facts.buyers[0].person.name}" if engaged else "nobody"
            message = f"On the buyer side, {who} spoke on the deal's {_calls(len(checked))}."
            self.raise_(WarningCode.SINGLE_THREADED, message, since, checked)

    def not_enough_contacts(self, least: int | None) -> None:
        assert least is not None
        engaged, checked, since = self._contacts()
        single = self.settings[WarningCode.SINGLE_THREADED].enabled and engaged <= 1
        if engaged < least and not single:
            message = f"{engaged} buyer-side people spoke on the deal's calls (at least {least} wanted)."
            self.raise_(WarningCode.NOT_ENOUGH_CONTACTS, message, since, checked)

    def no_power(self, _: int | None) -> None:
        if not self.facts.meddpicc:
            return
        economic_buyer = next(e for e in roll_up(self.facts.meddpicc).elements if e.key == "economic_buyer")
        checked = [c.transcript_id for c in self.facts.meddpicc]
        since = self.facts.meddpicc[-1].occurred_at
        if economic_buyer.status is not MeddpiccStatus.IDENTIFIED:
            quotes = (
                Quote.verified(economic_buyer.source.transcript_id, economic_buyer.element.evidence)
                if economic_buyer.source and economic_buyer.element
                else []
            )
            message = f"The economic buyer is not identified (MEDDPICC: {economic_buyer.status.value})."
            self.raise_(WarningCode.NO_POWER, message, since, checked, quotes)
            return
        on_a_call = any(
            view.stakeholder.committee_role is CommitteeRole.ECONOMIC_BUYER
            for seen in self.facts.buyers
            for view in seen.stakeholder_views
        )
        if not on_a_call:
            assert economic_buyer.source is not None and economic_buyer.element is not None
            quotes = Quote.verified(economic_buyer.source.transcript_id, economic_buyer.element.evidence)
            message = "The economic buyer is identified but has not spoken on any of the deal's calls."
            self.raise_(WarningCode.NO_POWER, message, since, [c.transcript_id for c in self.facts.calls], quotes)

    def pricing_not_discussed(self, _: int | None) -> None:
        if not self.facts.pricing_discussed:
            checked = [c.transcript_id for c in self.facts.calls]
            message = f"Pricing did not come up on the deal's {_calls(len(checked))}."
            self.raise_(WarningCode.PRICING_NOT_DISCUSSED, message, self.facts.calls[-1].occurred_at, checked)

    def red_flag(self, days: int | None) -> None:
        assert days is not None
        recent_from = self.facts.now - timedelta(days=days)
        flagged = [
            (analysed.call, risk, Quote.verified(analysed.call.transcript_id, risk.evidence))
            for analysed in self.facts.meetings
            if analysed.call.occurred_at >= recent_from
            for risk in analysed.output.risks
            if risk.severity is Severity.HIGH
        ]
        flagged = [(call, risk, quotes) for call, risk, quotes in flagged if quotes]
        if not flagged:
            return
        self.boundaries.append(max(call.occurred_at for call, _, _ in flagged) + timedelta(days=days))
        first_call, first_risk, _ = flagged[0]
        more = f" (and {len(flagged) - 1} more)" if len(flagged) > 1 else ""
        message = f"High-severity risk on the call of {first_call.occurred_at:%Y-%m-%d}: {first_risk.description}{more}"
        calls = list(dict.fromkeys(call.transcript_id for call, _, _ in flagged))
        quotes = [quote for _, _, found in flagged for quote in found]
        self.raise_(WarningCode.RED_FLAG, message, min(call.occurred_at for call, _, _ in flagged), calls, quotes)

    def qualification_slipping(self, points: int | None) -> None:
        assert points is not None
        scored = history(self.facts.meddpicc)
        if len(scored) < 2:
            return
        before, latest = scored[-2], scored[-1]
        fell = round((before.score - latest.score) * 100)
        if fell < points:
            return
        quotes = [
            quote
            for key in MEDDPICC_ELEMENTS
            if _WEIGHT[latest.element(key).status] < _WEIGHT[before.element(key).status]
            for quote in Quote.verified(before.call.transcript_id, before.element(key).evidence)
        ]
        message = (
            f"The MEDDPICC score fell from {before.score * 100:.0f} to {latest.score * 100:.0f} (of 100) "
            f"between the calls of {before.call.occurred_at:%Y-%m-%d} and {latest.call.occurred_at:%Y-%m-%d}."
        )
        calls = [before.call.transcript_id, latest.call.transcript_id]
        self.raise_(WarningCode.QUALIFICATION_SLIPPING, message, latest.call.occurred_at, calls, quotes)


_WEIGHT = {MeddpiccStatus.IDENTIFIED: 2, MeddpiccStatus.PARTIAL: 1, MeddpiccStatus.MISSING: 0}
_CHECKS = {
    WarningCode.NO_ACTIVITY: _Checks.no_activity,
    WarningCode.NO_NEXT_STEP: _Checks.no_next_step,
    WarningCode.STALLED_IN_STAGE: _Checks.stalled_in_stage,
    WarningCode.NOT_ENOUGH_CONTACTS: _Checks.not_enough_contacts,
    WarningCode.SINGLE_THREADED: _Checks.single_threaded,
    WarningCode.NO_POWER: _Checks.no_power,
    WarningCode.PRICING_NOT_DISCUSSED: _Checks.pricing_not_discussed,
    WarningCode.RED_FLAG: _Checks.red_flag,
    WarningCode.QUALIFICATION_SLIPPING: _Checks.qualification_slipping,
}
