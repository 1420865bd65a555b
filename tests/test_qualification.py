"""deal.qualification: MEDDPICC rolled up across calls, and transcript.analyses."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from dealgraph.agents.outputs import MEDDPICC_ELEMENTS, MeddpiccOutput, MeddpiccStatus
from dealgraph.schema.qualification import MeddpiccElementKey
from dealgraph.services.qualification import CallResult, roll_up
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


QUALIFICATION = """
query($id: ID!) {
  deal(id: $id) {
    qualification { analysedCalls elements { element status summary evidence { quote verified } transcript { id } } }
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
