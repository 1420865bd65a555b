"""deal.qualification: MEDDPICC rolled up across calls, and transcript.analyses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from dealgraph.agents.outputs import MEDDPICC_ELEMENTS, MeddpiccOutput, MeddpiccStatus
from dealgraph.schema.qualification import MeddpiccElementKey
from dealgraph.services.qualification import CallResult, Trend, history, roll_up, score
from harness.transcripts import DISCOVERY_CALL
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.factories import create_transcript
from tests.support import GraphQLClient, StandinControl, TenantFactory


def _output(**statuses: MeddpiccStatus) -> MeddpiccOutput:
    element = {"summary": "s", "confidence": 0.8, "evidence": []}
    fields: dict[str, Any] = {
        key: element | {"status": statuses.get(key, MeddpiccStatus.MISSING)} for key in MEDDPICC_ELEMENTS
    }
    return MeddpiccOutput.model_validate(fields | {"gaps": [], "next_questions": []})


def _call(day: int, **statuses: MeddpiccStatus) -> CallResult:
    when = datetime(2026, 11, day, tzinfo=UTC)
    return CallResult(uuid.uuid4(), when, when, _output(**statuses))


def test_the_graphql_element_enum_is_the_output_models_elements() -> None:
    """`MeddpiccElementKey` is spelled out for mypy; the output model stays the source of truth."""
    assert tuple(key.value for key in MeddpiccElementKey) == MEDDPICC_ELEMENTS


def test_latest_call_that_covered_an_element_sets_it() -> None:
    newest = _call(20, champion=MeddpiccStatus.PARTIAL)
    older = _call(10, champion=MeddpiccStatus.IDENTIFIED, metrics=MeddpiccStatus.IDENTIFIED)
    rolled = {standing.key: standing for standing in roll_up([newest, older]).elements}
    assert rolled["champion"].status is MeddpiccStatus.PARTIAL and rolled["champion"].source is newest
    assert rolled["metrics"].status is MeddpiccStatus.IDENTIFIED and rolled["metrics"].source is older  # not erased
    assert rolled["paper_process"].status is MeddpiccStatus.MISSING and rolled["paper_process"].source is None
    assert [s.key for s in roll_up([]).elements] == list(MEDDPICC_ELEMENTS)


def test_a_calls_score_counts_identified_as_one_and_partial_as_half() -> None:
    everything = {key: MeddpiccStatus.IDENTIFIED for key in MEDDPICC_ELEMENTS}
    assert score(list(everything.values())) == 1.0
    assert score([MeddpiccStatus.PARTIAL] * len(MEDDPICC_ELEMENTS)) == 0.5
    assert score([MeddpiccStatus.IDENTIFIED, MeddpiccStatus.PARTIAL] + [MeddpiccStatus.MISSING] * 6) == 1.5 / 8
    assert roll_up([]).score == 0.0


def test_history_is_oldest_first_with_each_calls_trend() -> None:
    first = _call(1, metrics=MeddpiccStatus.PARTIAL)
    better = _call(5, metrics=MeddpiccStatus.IDENTIFIED, champion=MeddpiccStatus.PARTIAL)
    same = _call(9, metrics=MeddpiccStatus.PARTIAL, champion=MeddpiccStatus.IDENTIFIED)
    worse = _call(12)
    scored = history([worse, same, better, first])  # as loaded: newest first
    assert [s.call for s in scored] == [first, better, same, worse]
    assert [s.score for s in scored] == [0.5 / 8, 1.5 / 8, 1.5 / 8, 0.0]
    assert [s.trend for s in scored] == [None, Trend.UP, Trend.FLAT, Trend.DOWN]
    # the roll-up keeps what earlier calls established: the later empty call does not lower it
    assert roll_up([worse, same, better, first]).score == 1.5 / 8


QUALIFICATION = """
query($id: ID!) {
  deal(id: $id) {
    qualificationHistory { callOccurredAt score trend transcript { id } elements { element status confidence } }
    qualification { analysedCalls score elements { element status summary evidence { quote verified } transcript { id } } }
    transcripts { edges { node { id analyses { totalCount edges { node { id status } } } } } }
  }
}"""
MEDDPICC_RESULT = """
query($id: ID!) { analysis(id: $id) { agentRuns { result { ... on MeddpiccResult {
  metrics { status } economicBuyer { status } decisionCriteria { status } decisionProcess { status }
  paperProcess { status } identifyPain { status } champion { status } competition { status } } } } } }"""


async def test_deal_qualification_over_analysed_calls(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    follow_up = (
        DISCOVERY_CALL.replace("Thanks for joining", "Welcome back") + "[00:02:30] Dana Wright: Budget is approved.\n"
    )
    later = await create_transcript(
        gql, who, ids["deal"], title="Follow-up", content=follow_up, occurredAt="2026-11-20T10:00:00Z"
    )
    first = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
    second = await start(gql, who, later["id"], agents=["MEDDPICC"])
    for analysis in (first, second):
        await wait_until_finished(gql, who, analysis["id"])

    data = (await gql(QUALIFICATION, {"id": ids["deal"]}, as_=who))["deal"]
    qualification = data["qualification"]
    assert qualification["analysedCalls"] == 2
    newest_first = [
        ((await gql(MEDDPICC_RESULT, {"id": a["id"]}, as_=who))["analysis"]["agentRuns"][0]["result"], transcript)
        for a, transcript in ((second, later["id"]), (first, ids["transcript"]))
    ]
    for element in qualification["elements"]:
        key = element["element"].lower().replace("_", " ").title().replace(" ", "")
        key = key[0].lower() + key[1:]
        expected = next(
            ((r[key]["status"], t) for r, t in newest_first if r[key]["status"] != "MISSING"), ("MISSING", None)
        )
        assert (element["status"], (element["transcript"] or {}).get("id")) == expected
        assert all(quote["verified"] for quote in element["evidence"])
    assert {e["status"] for e in qualification["elements"]} - {"MISSING"}, "the stand-in found something to roll up"
    counts = sorted(edge["node"]["analyses"]["totalCount"] for edge in data["transcripts"]["edges"])
    assert counts == [1, 1]

    rolled_up = [e["status"] for e in qualification["elements"]]
    assert qualification["score"] == (rolled_up.count("IDENTIFIED") + rolled_up.count("PARTIAL") / 2) / 8
    calls = data["qualificationHistory"]
    assert [c["transcript"]["id"] for c in calls] == [ids["transcript"], later["id"]]  # oldest first
    for call, (result, _) in zip(calls, reversed(newest_first), strict=True):
        statuses = [e["status"] for e in call["elements"]]
        assert statuses == [status["status"] for status in result.values()]
        assert call["score"] == (statuses.count("IDENTIFIED") + statuses.count("PARTIAL") / 2) / 8
        assert all(0 <= e["confidence"] <= 1 for e in call["elements"])
    first_score, second_score = (c["score"] for c in calls)
    expected_trend = "FLAT" if first_score == second_score else ("UP" if second_score > first_score else "DOWN")
    assert [c["trend"] for c in calls] == [None, expected_trend]

    # a page of deals is a compiled read (one statement, tests/test_statement_count.py); a filter sends it through
    # the resolvers: the same roll-up either way
    page = "{ deals(first: 5) { edges { node { id qualification { analysedCalls score } } } } }"
    answers = [(await gql(q, as_=who))["deals"]["edges"] for q in (page, page.replace(")", ', filter: {text: ""})'))]
    assert answers[0] == answers[1]
    assert answers[0] == [
        {"node": {"id": ids["deal"], "qualification": {"analysedCalls": 2, "score": qualification["score"]}}}
    ]
