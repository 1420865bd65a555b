"""Proposed CRM updates: made from an analysis with verified evidence, decided by a person, audited.

The end-to-end tests run stand-in analyses; the lifecycle tests make proposals with values they choose
through `dealgraph.runs.proposals.propose` (what the analysis pool calls after a meeting-intelligence run)
on the rows of a real analysis, so each transition, the conflict and the audit are checked exactly.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from starlette.applications import Starlette
from strawberry import relay

from dealgraph.agents.evidence import EvidenceLocator
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import CrmUpdates, MeetingOutput, verify_evidence
from dealgraph.agents.registry import AGENTS
from dealgraph.db.models import Role
from dealgraph.db.repositories.runs import ClaimedRun
from dealgraph.runs.proposals import propose
from dealgraph.services.ids import node_uuid
from dealgraph.standin.output_schema import schema_problems
from dealgraph.transcripts.formats import parse_transcript
from harness.transcripts import DISCOVERY_CALL
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    TenantHandle,
    notifications_lost,
    subscribe,
    wait_for,
    websocket,
)

DEAL_FIELDS = "closeDate amount nextStep stage"
VALUE = """__typename ... on DateValue { date } ... on AmountValue { amount } ... on TextValue { text }
  ... on StageValue { stage } ... on EmailDraft { subject body }"""
PROPOSAL_FIELDS = f"""
  id field status confidence decidedAt reason
  proposed {{ {VALUE} }} current {{ {VALUE} }} decidedValue {{ {VALUE} }}
  evidence {{ quote verified speaker utteranceIndex }}
  decidedBy {{ id }}
  recipients {{ name }}
  audit {{ decision actor {{ id }} fromValue {{ {VALUE} }} toValue {{ {VALUE} }} reason }}
"""
PROPOSALS = f"""
query($id: ID!, $status: ProposalStatus) {{ deal(id: $id) {{
  {DEAL_FIELDS}
  proposals(status: $status, first: 10) {{ totalCount edges {{ node {{ {PROPOSAL_FIELDS} }} }} }}
}} }}"""
ACCEPT = f"""
mutation($id: ID!, $value: ProposalValueInput) {{ acceptProposal(id: $id, value: $value) {{
  proposal {{ {PROPOSAL_FIELDS} deal {{ {DEAL_FIELDS} }} }} errors {{ field message code }}
}} }}"""
REJECT = f"""
mutation($id: ID!, $reason: String) {{ rejectProposal(id: $id, reason: $reason) {{
  proposal {{ {PROPOSAL_FIELDS} }} errors {{ field message code }}
}} }}"""
UPDATE_DEAL = """
mutation($input: UpdateDealInput!) { updateDeal(input: $input) { deal { closeDate } errors { field message } } }"""
EVENTS = """subscription($id: ID!) { dealEvents(dealId: $id) {
  __typename dealId ... on ProposalsChanged { proposals { id field status } }
} }"""
RUNS = "query($id: ID!) { analysis(id: $id) { agentRuns { id agent } } }"
SPEAKERS = "query($id: ID!) { transcript(id: $id) { speakers { name person { id } } } }"
SET_SIDE = "mutation($id: ID!) { setPersonSide(id: $id, side: BUYER) { errors { message } } }"

UTTERANCES = parse_transcript(DISCOVERY_CALL).utterances
PROOF = "Our CFO, Dana Wright, approves anything above fifty thousand dollars."


def updates(quote: str = PROOF, **fields: Any) -> CrmUpdates:
    """CRM updates as the model answers them, each quoting `quote`, verified against the discovery call."""
    answer: dict[str, Any] = dict.fromkeys(CrmUpdates.model_fields)
    for name, value in fields.items():
        answer[name] = (value if isinstance(value, dict) else {"value": value}) | {
            "confidence": 0.8,
            "evidence": [{"quote": quote, "utterance_index": None}],
        }
    return verify_evidence(CrmUpdates.model_validate(answer), EvidenceLocator(UTTERANCES))


class Deal:
    """A deal with the discovery call, and proposals made on it as a meeting-intelligence run would."""

    def __init__(self, app: Starlette, gql: GraphQLClient, who: TenantHandle, ids: dict[str, str]) -> None:
        self.app, self.gql, self.who, self.id, self.transcript = app, gql, who, ids["deal"], ids["transcript"]
        self.last_run: ClaimedRun | None = None

    @classmethod
    async def create(cls, app: Starlette, gql: GraphQLClient, who: TenantHandle) -> Deal:
        return cls(app, gql, who, await transcript_for_analysis(gql, who))

    async def propose(self, **fields: Any) -> list[dict[str, Any]]:
        """The deal's proposals after a run of a new analysis proposed `fields` (one analysis of ACTION_ITEMS
        gives the run rows; which agent ran does not matter to what is proposed)."""
        analysis = await start(self.gql, self.who, self.transcript, agents=["ACTION_ITEMS"], force=True)
        await wait_until_finished(self.gql, self.who, analysis["id"])
        (run,) = (await self.gql(RUNS, {"id": analysis["id"]}, as_=self.who))["analysis"]["agentRuns"]
        claimed = ClaimedRun(
            id=node_uuid(run["id"], "AgentRun"),
            tenant_id=self.who.tenant_id,
            analysis_id=node_uuid(analysis["id"], "Analysis"),
            agent=AgentKind.MEETING_INTELLIGENCE.value,
            prompt_version_id=uuid.uuid4(),
            seq=2,
            attempts=1,
            deal_id=node_uuid(self.id, "Deal"),
            transcript_id=node_uuid(self.transcript, "Transcript"),
        )
        async with self.app.state.database.tenant_session(self.who.tenant_id) as session:
            await propose(session, claimed, updates(**fields))
        self.last_run = claimed
        return await self.proposals()

    async def proposals(self, status: str | None = None, who: TenantHandle | None = None) -> list[dict[str, Any]]:
        data = await self.gql(PROPOSALS, {"id": self.id, "status": status}, as_=who or self.who)
        return [edge["node"] for edge in data["deal"]["proposals"]["edges"]]

    async def deal(self) -> dict[str, Any]:
        data: dict[str, Any] = (await self.gql(PROPOSALS, {"id": self.id}, as_=self.who))["deal"]
        return data


STAGE_HISTORY = "query($id: ID!) { deal(id: $id) { stageHistory { fromStage toStage changedBy { id } } } }"


def user_id(who: TenantHandle) -> str:
    return str(relay.GlobalID("User", str(who.user_id)))


def by_field(proposals: list[dict[str, Any]], status: str = "SUGGESTED") -> dict[str, dict[str, Any]]:
    return {p["field"]: p for p in proposals if p["status"] == status}


async def accept(gql: GraphQLClient, who: TenantHandle, proposal_id: str, value: Any = None) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(ACCEPT, {"id": proposal_id, "value": value}, as_=who))["acceptProposal"]
    return payload


def test_the_changed_meeting_output_stays_in_the_structured_outputs_subset() -> None:
    schema = AGENTS[AgentKind.MEETING_INTELLIGENCE].output_schema
    assert list(schema_problems(schema)) == []
    assert set(schema["$defs"]["CrmUpdates"]["required"]) == set(CrmUpdates.model_fields)


def test_results_stored_before_crm_updates_read_as_proposing_nothing() -> None:
    stored = {"summary": "s", "key_topics": [], "sentiment": "neutral", "sentiment_confidence": 0.5}
    assert MeetingOutput.model_validate(stored).crm_updates == CrmUpdates.model_validate(
        dict.fromkeys(CrmUpdates.model_fields)
    )


async def test_a_stand_in_analysis_proposes_with_verified_evidence_and_pushes_them(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    async with websocket(app, who.api_key) as ws:
        events = await subscribe(ws, EVENTS, {"id": deal.id})
        assert (await events.next() or {})["dealEvents"]["__typename"] == "DealHealthChanged"  # the health first
        analysis = await start(gql, who, deal.transcript, agents=["MEETING_INTELLIGENCE"])
        await wait_until_finished(gql, who, analysis["id"])
        pushed = (await events.next() or {})["dealEvents"]
    proposals = await deal.proposals()
    assert proposals, "the stand-in's answer proposes updates"
    assert pushed["__typename"] == "ProposalsChanged" and pushed["dealId"] == deal.id
    assert {p["id"] for p in pushed["proposals"]} == {p["id"] for p in proposals}
    quoted = {utterance.text for utterance in UTTERANCES}
    for proposal in proposals:
        assert proposal["status"] == "SUGGESTED" and proposal["decidedAt"] is None
        assert proposal["evidence"] and all(e["verified"] and e["speaker"] for e in proposal["evidence"])
        assert all(any(e["quote"] in text for text in quoted) for e in proposal["evidence"])
        assert 0 <= proposal["confidence"] <= 1
    assert (await deal.deal())["closeDate"] is None  # nothing is applied without a person


async def test_accept_applies_the_value_and_audits_who_and_from_what_to_what(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    deal = await Deal.create(app, gql, admin)
    proposals = by_field(await deal.propose(close_date="2026-12-15", amount=120000.5, stage="proposal"))
    assert proposals["CLOSE_DATE"]["current"] is None and proposals["AMOUNT"]["proposed"]["amount"] == "120000.50"
    assert proposals["CLOSE_DATE"]["evidence"][0]["verified"] is True

    accepted = await accept(gql, member, proposals["CLOSE_DATE"]["id"])
    assert accepted["errors"] == []
    proposal = accepted["proposal"]
    assert proposal["status"] == "ACCEPTED" and proposal["decidedBy"] == {"id": user_id(member)}
    assert proposal["deal"]["closeDate"] == "2026-12-15" and proposal["decidedValue"]["date"] == "2026-12-15"
    (decision,) = proposal["audit"]
    assert decision["decision"] == "ACCEPTED" and decision["actor"] == {"id": user_id(member)}
    assert decision["fromValue"] is None and decision["toValue"] == {"__typename": "DateValue", "date": "2026-12-15"}

    stage = (await accept(gql, admin, proposals["STAGE"]["id"]))["proposal"]
    assert stage["deal"]["stage"] == "PROPOSAL" and stage["audit"][0]["fromValue"]["stage"] == "PROSPECTING"
    history = (await gql(STAGE_HISTORY, {"id": deal.id}, as_=admin))["deal"]["stageHistory"]
    assert history[-1] == {"fromStage": "PROSPECTING", "toStage": "PROPOSAL", "changedBy": {"id": user_id(admin)}}
    again = await accept(gql, admin, proposals["CLOSE_DATE"]["id"])
    assert again["proposal"] is None and again["errors"][0]["code"] == "CONFLICT"
    assert "already accepted" in again["errors"][0]["message"]


async def test_edit_accepts_the_reps_value_by_the_deal_fields_rules(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    proposals = by_field(
        await deal.propose(
            amount=90000, next_step="Alice sends the order form", follow_up_email={"subject": "s", "body": "b"}
        )
    )
    amount = proposals["AMOUNT"]["id"]
    for value, field, message in (
        ({"amount": "10.005"}, "value.amount", "must have at most 2 decimals"),
        ({"amount": "-1"}, "value.amount", "must not be negative"),
        ({"amount": None}, "value.amount", "must not be null"),
        ({"closeDate": "2026-01-01"}, "value.closeDate", "this proposal is for amount; give only that field"),
        ({}, "value.amount", "give the value for amount"),
    ):
        refused = await accept(gql, who, amount, value)
        assert (
            refused["proposal"] is None and {"field": field, "message": message, "code": "INVALID"} in refused["errors"]
        ), (value, refused)
    assert (await deal.deal())["amount"] is None and by_field(await deal.proposals())["AMOUNT"]["audit"] == []
    bad_date = (await gql.raw(ACCEPT, {"id": amount, "value": {"closeDate": "2026-02-30"}}, as_=who)).json()
    assert bad_date["data"] is None and bad_date["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert "day is out of range for month" in bad_date["errors"][0]["message"]

    edited = (await accept(gql, who, amount, {"amount": "95000.10"}))["proposal"]
    assert edited["status"] == "EDITED" and edited["deal"]["amount"] == "95000.10"
    assert edited["proposed"]["amount"] == "90000.00" and edited["decidedValue"]["amount"] == "95000.10"
    assert edited["audit"][0]["decision"] == "EDITED" and edited["audit"][0]["toValue"]["amount"] == "95000.10"

    blank = await accept(gql, who, proposals["NEXT_STEP"]["id"], {"nextStep": "  "})
    assert blank["errors"] == [{"field": "value.nextStep", "message": "must not be blank", "code": "INVALID"}]
    step = (await accept(gql, who, proposals["NEXT_STEP"]["id"]))["proposal"]
    assert step["status"] == "ACCEPTED" and step["deal"]["nextStep"] == "Alice sends the order form"

    assert proposals["FOLLOW_UP_EMAIL"]["recipients"] == []  # nobody on the call is known to be buyer-side yet
    speakers = (await gql(SPEAKERS, {"id": deal.transcript}, as_=who))["transcript"]["speakers"]
    bob = next(speaker["person"]["id"] for speaker in speakers if speaker["name"] == "Bob Martinez")
    assert (await gql(SET_SIDE, {"id": bob}, as_=who))["setPersonSide"]["errors"] == []
    assert by_field(await deal.proposals())["FOLLOW_UP_EMAIL"]["recipients"] == [{"name": "Bob Martinez"}]
    email = proposals["FOLLOW_UP_EMAIL"]["id"]
    taken = (await accept(gql, who, email, {"followUpEmail": {"subject": "Recap", "body": "Thanks"}}))["proposal"]
    assert taken["status"] == "EDITED" and taken["decidedValue"] == {
        "__typename": "EmailDraft",
        "subject": "Recap",
        "body": "Thanks",
    }
    assert taken["audit"][0]["fromValue"] is None and taken["audit"][0]["toValue"]["subject"] == "Recap"


async def test_reject_keeps_the_deal_and_records_the_reason(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    proposals = by_field(await deal.propose(close_date="2026-12-15", stage="negotiation"))
    too_long = await gql(REJECT, {"id": proposals["STAGE"]["id"], "reason": "x" * 1001}, as_=who)
    assert too_long["rejectProposal"]["errors"] == [
        {"field": "reason", "message": "must be at most 1000 characters", "code": "INVALID"}
    ]
    rejected = (await gql(REJECT, {"id": proposals["STAGE"]["id"], "reason": " too early "}, as_=who))["rejectProposal"]
    proposal = rejected["proposal"]
    assert proposal["status"] == "REJECTED" and proposal["reason"] == "too early"
    unchanged = {"__typename": "StageValue", "stage": "PROSPECTING"}
    assert proposal["audit"][0]["fromValue"] == proposal["audit"][0]["toValue"] == unchanged
    silent = (await gql(REJECT, {"id": proposals["CLOSE_DATE"]["id"]}, as_=who))["rejectProposal"]["proposal"]
    assert silent["status"] == "REJECTED" and silent["reason"] is None
    assert (await deal.deal())["stage"] == "PROSPECTING"
    assert {p["status"] for p in await deal.proposals(status="REJECTED")} == {"REJECTED"}
    assert await deal.proposals(status="SUGGESTED") == []


async def test_accepting_after_the_field_changed_is_a_conflict_naming_it(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    proposal = by_field(await deal.propose(close_date="2026-12-15"))["CLOSE_DATE"]
    changed = await gql(UPDATE_DEAL, {"input": {"id": deal.id, "closeDate": "2027-01-31"}}, as_=who)
    assert changed["updateDeal"]["errors"] == []
    conflict = await accept(gql, who, proposal["id"])
    assert conflict["proposal"] is None
    (error,) = conflict["errors"]
    assert error["code"] == "CONFLICT" and error["field"] == "id"
    assert "closeDate changed since this proposal was made (it was not set, it is 2027-01-31)" in error["message"]
    assert (await deal.deal())["closeDate"] == "2027-01-31"
    assert by_field(await deal.proposals())["CLOSE_DATE"]["audit"] == []  # nothing saved


async def test_a_newer_call_supersedes_the_open_proposal_of_the_same_field(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    first = by_field(await deal.propose(close_date="2026-12-15", amount=50000))
    decided = await accept(gql, who, first["AMOUNT"]["id"])
    assert decided["errors"] == []
    later = await deal.propose(close_date="2027-02-01", amount=50000, next_step="Dana signs")
    superseded = by_field(later, "SUPERSEDED")
    assert set(superseded) == {"CLOSE_DATE"}  # the accepted amount stays accepted
    (decision,) = superseded["CLOSE_DATE"]["audit"]
    assert decision["decision"] == "SUPERSEDED" and decision["actor"] is None
    open_now = by_field(later)
    assert open_now["CLOSE_DATE"]["proposed"]["date"] == "2027-02-01"
    assert "AMOUNT" not in open_now  # the deal already has that amount: nothing to propose
    assert set(open_now) == {"CLOSE_DATE", "NEXT_STEP"}
    refused = await accept(gql, who, first["CLOSE_DATE"]["id"])
    assert refused["errors"][0]["code"] == "CONFLICT" and "already superseded" in refused["errors"][0]["message"]


async def test_updates_without_a_verified_quote_are_not_proposed(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    assert await deal.propose(close_date="2026-12-15", quote="We signed the contract yesterday.") == []


async def test_other_tenants_neither_see_nor_decide_proposals(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    owner, other = await tenants.create(), await tenants.create(Role.MEMBER)
    deal = await Deal.create(app, gql, owner)
    proposal = by_field(await deal.propose(close_date="2026-12-15"))["CLOSE_DATE"]
    assert (await gql(PROPOSALS, {"id": deal.id}, as_=other))["deal"] is None
    node = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": proposal["id"]}, as_=other)
    assert node["node"] is None
    for document, name in ((ACCEPT, "acceptProposal"), (REJECT, "rejectProposal")):
        refused = (await gql(document, {"id": proposal["id"]}, as_=other))[name]
        assert refused["errors"] == [{"field": "id", "message": "proposal not found", "code": "NOT_FOUND"}]
    wrong_type = await accept(gql, owner, deal.id)  # a global id, of a deal
    assert wrong_type["errors"] == [{"field": "id", "message": "proposal not found", "code": "NOT_FOUND"}]
    malformed = (await gql.raw(ACCEPT, {"id": "not-an-id"}, as_=owner)).json()
    assert malformed["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert by_field(await deal.proposals())["CLOSE_DATE"]["status"] == "SUGGESTED"
    async with websocket(app, other.api_key) as ws:
        await ws.send_json({"id": "x", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"id": deal.id}}})
        message = await asyncio.wait_for(ws.receive_json(), 5)
    [error] = message["payload"]["errors"]
    assert error["message"] == "Deal not found." and error["extensions"]["code"] == "NOT_FOUND"


async def test_after_a_lost_listener_the_open_proposals_are_sent_again(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, server_url: str, database_url: str
) -> None:
    """Proposals made and decided while their notifications were lost: what is still to decide is sent."""
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    async with websocket(app, who.api_key) as ws:
        events = await subscribe(ws, EVENTS, {"id": deal.id})
        assert (await events.next() or {})["dealEvents"]["__typename"] == "DealHealthChanged"
        async with notifications_lost(app, server_url, database_url) as lost:
            made = by_field(await deal.propose(close_date="2026-12-15", next_step="Send the order form"))
            await gql(REJECT, {"id": made["CLOSE_DATE"]["id"]}, as_=who)
            await wait_for(lambda: sum('"proposals"' in payload for payload in lost) == 2)
        resent = (await events.next(timeout=15) or {})["dealEvents"]
    assert resent["__typename"] == "ProposalsChanged" and resent["dealId"] == deal.id
    assert resent["proposals"] == [{"id": made["NEXT_STEP"]["id"], "field": "NEXT_STEP", "status": "SUGGESTED"}]


async def test_re_analysing_the_call_supersedes_its_open_proposals(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    for _ in range(2):
        analysis = await start(gql, who, deal.transcript, agents=["MEETING_INTELLIGENCE"], force=True)
        await wait_until_finished(gql, who, analysis["id"])
    proposals = await deal.proposals()
    suggested, superseded = by_field(proposals), by_field(proposals, "SUPERSEDED")
    assert suggested and set(suggested) == set(superseded)
    for field, older in superseded.items():
        assert older["audit"][0]["decision"] == "SUPERSEDED" and older["audit"][0]["actor"] is None
        assert suggested[field]["proposed"] == older["proposed"]  # the same call, the same answer, proposed anew


async def test_a_run_finished_twice_proposes_once(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    """A run taken over by another pool records its end again; its proposals are not made twice."""
    who = await tenants.create()
    deal = await Deal.create(app, gql, who)
    made = await deal.propose(amount=1000)
    assert deal.last_run is not None
    async with app.state.database.tenant_session(who.tenant_id) as session:
        assert await propose(session, deal.last_run, updates(amount=2000)) == []
    assert await deal.proposals() == made


async def test_two_people_deciding_at_once_one_wins(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    deal = await Deal.create(app, gql, admin)
    proposal = by_field(await deal.propose(stage="negotiation"))["STAGE"]["id"]
    accepted, rejected = await asyncio.gather(accept(gql, admin, proposal), gql(REJECT, {"id": proposal}, as_=member))
    outcomes = [accepted, rejected["rejectProposal"]]
    assert sorted(bool(outcome["errors"]) for outcome in outcomes) == [False, True]
    loser = next(outcome for outcome in outcomes if outcome["errors"])
    assert loser["errors"][0]["code"] == "CONFLICT"
    winner = "REJECTED" if accepted["errors"] else "ACCEPTED"
    (decided,) = [p for p in await deal.proposals() if p["id"] == proposal]
    assert decided["status"] == winner and [d["decision"] for d in decided["audit"]] == [winner]
