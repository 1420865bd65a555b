"""The health warnings' rules (`dealgraph.services.health_rules.assess`): each fires, clears, follows its threshold
and its switch, and carries its evidence (only verified quotes); the status they add up to; when time alone
changes the answer. Through the API and the pool: tests/test_deal_health.py."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from dealgraph.agents.outputs import (
    MEDDPICC_ELEMENTS,
    ActionItemsOutput,
    MeddpiccOutput,
    MeddpiccStatus,
    MeetingOutput,
)
from dealgraph.agents.outputs.stakeholders import CommitteeRole
from dealgraph.db.models import DealStage
from dealgraph.services.health_rules import (
    RULES,
    Analysed,
    Call,
    DealFacts,
    HealthStatus,
    HealthWarning,
    Quote,
    WarningCode,
    WarningSetting,
    assess,
    settings_from,
)
from dealgraph.services.people import Appearance, StakeholderView
from dealgraph.services.qualification import CallResult

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
DEFAULTS = settings_from({})


def _evidence(quote: str, verified: bool = True) -> dict[str, Any]:
    return {"quote": quote, "utterance_index": 3, "verified": verified, "speaker": "Bob", "start": 12.0}


def _meddpicc(**statuses: MeddpiccStatus) -> MeddpiccOutput:
    fields: dict[str, Any] = {
        key: {
            "status": statuses.get(key, MeddpiccStatus.MISSING),
            "summary": "s",
            "confidence": 0.8,
            "evidence": [_evidence(f"{key} said"), _evidence(f"{key} made up", verified=False)]
            if key in statuses
            else [],
        }
        for key in MEDDPICC_ELEMENTS
    }
    return MeddpiccOutput.model_validate(fields)


EVERYTHING = {key: MeddpiccStatus.IDENTIFIED for key in MEDDPICC_ELEMENTS}


def _meeting(*risks: tuple[str, str, bool]) -> MeetingOutput:
    return MeetingOutput.model_validate(
        {
            "summary": "s",
            "key_topics": [],
            "risks": [
                {"description": text, "severity": severity, "confidence": 0.9, "evidence": [_evidence(text, verified)]}
                for text, severity, verified in risks
            ],
            "sentiment": "positive",
            "sentiment_confidence": 0.8,
        }
    )


def _items(*due: date | None) -> ActionItemsOutput:
    return ActionItemsOutput.model_validate(
        {
            "items": [
                {
                    "description": f"Step {n}",
                    "owner": "Alice",
                    "due_date": day,
                    "priority": "high",
                    "confidence": 0.9,
                    "evidence": [_evidence(f"step {n}")],
                }
                for n, day in enumerate(due)
            ]
        }
    )


def _buyer(name: str, role: CommitteeRole = CommitteeRole.INFLUENCER) -> Appearance:
    view = SimpleNamespace(committee_role=role)
    seen = Appearance(SimpleNamespace(name=name, side="buyer"))
    seen.stakeholder_views.append(StakeholderView(uuid.uuid4(), NOW, view))  # type: ignore[arg-type]
    return seen


def healthy(days_ago: float = 2) -> DealFacts:
    """A deal nothing is wrong with: one recent call, analysed by every agent."""
    call = Call(uuid.uuid4(), NOW - timedelta(days=days_ago))
    return DealFacts(
        now=NOW,
        stage=DealStage.DISCOVERY,
        stage_entered_at=NOW - timedelta(days=10),
        calls=[call],
        meddpicc=[CallResult(call.transcript_id, call.occurred_at, call.occurred_at, _meddpicc(**EVERYTHING))],
        meetings=[Analysed(call, _meeting(("Minor", "low", True)))],
        action_items=[Analysed(call, _items(NOW.date() + timedelta(days=3)))],
        people=[_buyer("Bob", CommitteeRole.ECONOMIC_BUYER), _buyer("Carol"), _buyer("Dan")],
        pricing_discussed=True,
    )


def codes(facts: DealFacts, settings: dict[WarningCode, WarningSetting] = DEFAULTS) -> dict[WarningCode, HealthWarning]:
    return {w.code: w for w in assess(facts, settings).warnings}


def with_setting(code: WarningCode, **change: Any) -> dict[WarningCode, WarningSetting]:
    return {**DEFAULTS, code: replace(DEFAULTS[code], **change)}


def test_a_healthy_deal_is_on_track_with_its_next_step() -> None:
    facts = healthy()
    assessment = assess(facts, DEFAULTS)
    assert (assessment.status, assessment.warnings) == (HealthStatus.ON_TRACK, [])
    assert assessment.next_step is not None and assessment.next_step.description == "Step 0"
    assert [q.quote for q in assessment.next_step.quotes] == ["step 0"]


def test_no_analysed_call_is_unknown_and_raises_nothing() -> None:
    facts = replace(healthy(days_ago=90), meddpicc=[], meetings=[], action_items=[])
    assert assess(facts, DEFAULTS).status is HealthStatus.UNKNOWN
    assert assess(facts, DEFAULTS).warnings == []


def test_a_closed_deal_raises_nothing() -> None:
    facts = replace(healthy(days_ago=90), stage=DealStage.CLOSED_LOST, people=[])
    assert assess(facts, DEFAULTS).warnings == []


def test_no_activity_fires_after_the_threshold_and_names_the_last_call() -> None:
    assert WarningCode.NO_ACTIVITY not in codes(healthy(days_ago=13))
    quiet = healthy(days_ago=15)
    warning = codes(quiet)[WarningCode.NO_ACTIVITY]
    assert warning.calls == [quiet.calls[0].transcript_id]
    assert warning.since == quiet.calls[0].occurred_at + timedelta(days=14)
    assert "15 days" in warning.message
    assert WarningCode.NO_ACTIVITY not in codes(quiet, with_setting(WarningCode.NO_ACTIVITY, threshold=20))
    assert WarningCode.NO_ACTIVITY not in codes(quiet, with_setting(WarningCode.NO_ACTIVITY, enabled=False))
    assert assess(quiet, DEFAULTS).status is HealthStatus.OFF_TRACK  # high severity


def test_no_next_step_fires_when_every_due_date_passed_and_lists_the_calls_checked() -> None:
    facts = healthy()
    past = replace(facts, action_items=[Analysed(facts.calls[0], _items(NOW.date() - timedelta(days=1), None))])
    warning = codes(past)[WarningCode.NO_NEXT_STEP]
    assert warning.calls == [facts.calls[0].transcript_id] and warning.quotes == []
    assert warning.since == datetime.combine(NOW.date(), datetime.min.time(), tzinfo=UTC)
    assert assess(past, DEFAULTS).status is HealthStatus.AT_RISK
    due_now = replace(facts, action_items=[Analysed(facts.calls[0], _items(NOW.date()))])
    assert WarningCode.NO_NEXT_STEP not in codes(due_now)
    assert WarningCode.NO_NEXT_STEP not in codes(past, with_setting(WarningCode.NO_NEXT_STEP, enabled=False))


def test_stalled_in_stage_follows_when_the_stage_was_entered() -> None:
    entered = NOW - timedelta(days=31)
    stalled = replace(healthy(), stage_entered_at=entered)
    warning = codes(stalled)[WarningCode.STALLED_IN_STAGE]
    assert warning.since == entered + timedelta(days=30) and "discovery for 31 days" in warning.message
    assert warning.calls == [stalled.calls[0].transcript_id]  # the calls since entering the stage
    assert WarningCode.STALLED_IN_STAGE not in codes(replace(stalled, stage_entered_at=NOW - timedelta(days=29)))
    assert WarningCode.STALLED_IN_STAGE not in codes(stalled, with_setting(WarningCode.STALLED_IN_STAGE, threshold=45))


def test_contacts_single_threaded_below_two_not_enough_below_the_threshold() -> None:
    facts = healthy()
    two = replace(facts, people=facts.people[:2])
    assert set(codes(two)) == {WarningCode.NOT_ENOUGH_CONTACTS}
    assert "2 buyer-side people" in codes(two)[WarningCode.NOT_ENOUGH_CONTACTS].message
    assert codes(two)[WarningCode.NOT_ENOUGH_CONTACTS].calls == [facts.calls[0].transcript_id]
    assert WarningCode.NOT_ENOUGH_CONTACTS not in codes(two, with_setting(WarningCode.NOT_ENOUGH_CONTACTS, threshold=2))
    one = replace(facts, people=facts.people[:1])
    assert WarningCode.SINGLE_THREADED in codes(one) and WarningCode.NOT_ENOUGH_CONTACTS not in codes(one)
    assert "only Bob" in codes(one)[WarningCode.SINGLE_THREADED].message
    assert assess(one, DEFAULTS).status is HealthStatus.OFF_TRACK
    sellers_only = replace(facts, people=[Appearance(SimpleNamespace(name="Alice", side="seller"))])
    assert "nobody" in codes(sellers_only)[WarningCode.SINGLE_THREADED].message
    # with SINGLE_THREADED off, one buyer is still not enough contacts
    assert WarningCode.NOT_ENOUGH_CONTACTS in codes(one, with_setting(WarningCode.SINGLE_THREADED, enabled=False))


def test_no_power_when_the_economic_buyer_is_not_identified_or_never_spoke() -> None:
    facts = healthy()
    call = facts.calls[0]
    partial = _meddpicc(**(EVERYTHING | {"economic_buyer": MeddpiccStatus.PARTIAL}))
    vague = replace(facts, meddpicc=[CallResult(call.transcript_id, call.occurred_at, call.occurred_at, partial)])
    warning = codes(vague)[WarningCode.NO_POWER]
    assert "partial" in warning.message
    assert [q.quote for q in warning.quotes] == ["economic_buyer said"]  # the verified quote only
    absent = replace(facts, people=[_buyer("Carol"), _buyer("Dan"), _buyer("Erin")])
    warning = codes(absent)[WarningCode.NO_POWER]
    assert "has not spoken" in warning.message and [q.quote for q in warning.quotes] == ["economic_buyer said"]
    assert WarningCode.NO_POWER not in codes(absent, with_setting(WarningCode.NO_POWER, enabled=False))


def test_pricing_not_discussed_lists_every_call_checked() -> None:
    facts = healthy()
    older = Call(uuid.uuid4(), NOW - timedelta(days=9))
    silent = replace(facts, pricing_discussed=False, calls=[*facts.calls, older])
    warning = codes(silent)[WarningCode.PRICING_NOT_DISCUSSED]
    assert warning.calls == [facts.calls[0].transcript_id, older.transcript_id]
    assert assess(silent, DEFAULTS).status is HealthStatus.ON_TRACK  # low severity


def test_red_flag_needs_a_high_risk_with_a_verified_quote_on_a_recent_call() -> None:
    facts = healthy()
    call = facts.calls[0]
    flagged = replace(facts, meetings=[Analysed(call, _meeting(("Budget frozen", "high", True)))])
    warning = codes(flagged)[WarningCode.RED_FLAG]
    assert "Budget frozen" in warning.message and [q.quote for q in warning.quotes] == ["Budget frozen"]
    assert warning.since == call.occurred_at and warning.calls == [call.transcript_id]
    unquoted = replace(facts, meetings=[Analysed(call, _meeting(("Budget frozen", "high", False)))])
    assert WarningCode.RED_FLAG not in codes(unquoted)
    medium = replace(facts, meetings=[Analysed(call, _meeting(("Budget tight", "medium", True)))])
    assert WarningCode.RED_FLAG not in codes(medium)
    assert WarningCode.RED_FLAG not in codes(flagged, with_setting(WarningCode.RED_FLAG, threshold=1))
    recheck = assess(flagged, DEFAULTS).recheck_at
    assert recheck is not None and recheck <= call.occurred_at + timedelta(days=30)


def test_qualification_slipping_compares_the_last_two_analysed_calls() -> None:
    facts = healthy()
    earlier = Call(uuid.uuid4(), NOW - timedelta(days=8))
    weaker = _meddpicc(**(EVERYTHING | {"champion": MeddpiccStatus.PARTIAL}))

    def calls(latest: MeddpiccOutput, before: MeddpiccOutput) -> DealFacts:
        newest = facts.calls[0]
        return replace(
            facts,
            calls=[newest, earlier],
            meddpicc=[
                CallResult(newest.transcript_id, newest.occurred_at, newest.occurred_at, latest),
                CallResult(earlier.transcript_id, earlier.occurred_at, earlier.occurred_at, before),
            ],
        )

    slipping = calls(weaker, _meddpicc(**EVERYTHING))
    warning = codes(slipping)[WarningCode.QUALIFICATION_SLIPPING]
    assert "from 100 to 94" in warning.message
    assert warning.calls == [earlier.transcript_id, facts.calls[0].transcript_id]
    assert [q.quote for q in warning.quotes] == ["champion said"]  # what the earlier call had established
    assert WarningCode.QUALIFICATION_SLIPPING not in codes(calls(_meddpicc(**EVERYTHING), weaker))  # rising
    assert WarningCode.QUALIFICATION_SLIPPING not in codes(
        slipping, with_setting(WarningCode.QUALIFICATION_SLIPPING, threshold=10)
    )


def test_a_warning_still_raised_keeps_when_it_started() -> None:
    facts = replace(healthy(), pricing_discussed=False)
    first = assess(facts, DEFAULTS).warnings
    started = NOW - timedelta(days=40)
    kept = [replace(first[0], since=started)]
    assert assess(facts, DEFAULTS, kept).warnings[0].since == started


def test_recheck_is_the_next_moment_time_alone_changes_a_warning() -> None:
    facts = healthy(days_ago=2)
    assessment = assess(facts, DEFAULTS)
    # the next step is due in three days; no activity would start twelve days from now
    assert assessment.recheck_at == datetime.combine(NOW.date() + timedelta(days=4), datetime.min.time(), tzinfo=UTC)


@pytest.mark.parametrize("code", list(WarningCode))
def test_every_warning_round_trips_through_storage(code: WarningCode) -> None:
    quote = Quote(uuid.uuid4(), "said", 2, "Bob", 1.5)
    warning = HealthWarning(code, RULES[code].severity, "m", NOW, [quote.transcript_id], [quote])
    assert HealthWarning.from_json(warning.to_json()) == warning
