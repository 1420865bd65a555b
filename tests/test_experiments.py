"""Prompt experiments through the API against the stand-in: both modes end to end, scores and diffs, promotion,
budget refusal and the tenant's budget, permissions, isolation, a pool restarted mid-batch or while creating its
batch, and cancel."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import pytest
from starlette.applications import Starlette

from dealgraph.claude.batches import BatchStatus
from dealgraph.claude.client import LlmError, StructuredRequest
from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.runs.experiment_pool import ExperimentPool
from tests.analysis_support import transcript_for_analysis
from tests.experiment_support import (
    START,
    analysed_call,
    batch_id_of,
    batches_sent,
    candidate_version,
    dataset_of,
    experiment_setup,
    start,
    states,
)
from tests.experiment_support import ended as ended_as
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle, subscribe, wait_for, websocket

pytestmark = pytest.mark.usefixtures("standin")

EXPERIMENT = """
query($id: ID!) { experiment(id: $id) {
  id status batchId estimatedCostUsd promotedAt requestStates { state count }
  summary {
    baseline { requests succeeded schemaFailures evidenceRate costUsd outputTokens }
    candidate { requests succeeded schemaFailures evidenceRate costUsd outputTokens meanLatencyMs }
    scores { score improved regressed unchanged } fieldsCompared fieldsAgreeing
  }
  calls { agent regressed fieldsCompared fieldsAgreeing transcript { id }
    baseline { state } candidate { state errorCode }
    verdicts { score verdict } diff { field baseline candidate expected } }
} }"""
EXPERIMENTS = "{ experiments { id } }"
DIFF_EVIDENCE = """
query($id: ID!) { experiment(id: $id) { calls {
  baseline { result } candidate { result }
  diff { field baseline candidate baselineEvidence { quote verified } candidateEvidence { quote verified } }
} } }"""
CANCEL = "mutation($id: ID!) { cancelExperiment(id: $id) { experiment { id } errors { field code message } } }"
PROMOTE = """
mutation($id: ID!, $force: Boolean!) {
  promoteExperiment(id: $id, force: $force) { experiment { promotedAt } errors { field code message } }
}"""
LABELS = """
query($id: ID!) { promptTemplate(id: $id) {
  labels { name version { version } }
  audit { edges { node { action label toVersion { version } experiment { id } } } }
} }"""


async def ended(gql: GraphQLClient, who: TenantHandle, experiment: str) -> dict[str, Any]:
    return await ended_as(gql, who, experiment, query=EXPERIMENT)


@pytest.mark.parametrize("mode", ["BATCH", "LIVE"])
async def test_an_experiment_runs_the_candidate_and_only_the_missing_baseline(
    gql: GraphQLClient, tenants: TenantFactory, mode: str
) -> None:
    admin = await tenants.create()
    analysed = await analysed_call(gql, admin)
    fresh = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, analysed, fresh)
    started = await start(gql, admin, dataset, version["id"], mode=mode)
    assert started["errors"] == [] and started["experiment"]["mode"] == mode
    assert (started["experiment"]["baseline"], started["experiment"]["candidate"]) == ("production", "version 1")
    done = await ended(gql, admin, started["experiment"]["id"])
    assert done["status"] == "SUCCEEDED"
    assert states(done) == {"STORED": 1, "SUCCEEDED": 3}  # the analysed call's baseline was not run again
    assert (done["batchId"] or "").startswith("msgbatch_") == (mode == "BATCH")
    summary = done["summary"]
    assert summary["candidate"]["requests"] == summary["candidate"]["succeeded"] == 2
    assert summary["baseline"]["succeeded"] == 2 and summary["candidate"]["schemaFailures"] == 0
    assert summary["candidate"]["evidenceRate"] is not None and summary["candidate"]["costUsd"] > 0
    assert (summary["candidate"]["meanLatencyMs"] is None) == (mode == "BATCH")
    assert summary["fieldsCompared"] == 16  # eight MEDDPICC element statuses on each call
    assert {row["score"] for row in summary["scores"]} == {
        "SCHEMA_FAILURES",
        "TRUNCATED_OR_REFUSED",
        "EVIDENCE_RATE",
        "CORRECTION_AGREEMENT",
    }
    assert sorted(call["transcript"]["id"] for call in done["calls"]) == sorted([analysed, fresh])
    by_call = {call["transcript"]["id"]: call for call in done["calls"]}
    assert by_call[analysed]["baseline"]["state"] == "STORED" and by_call[fresh]["baseline"]["state"] == "SUCCEEDED"
    for call in done["calls"]:
        assert call["fieldsCompared"] == 8 and len(call["diff"]) == 8 - call["fieldsAgreeing"]


async def test_a_schema_regression_is_listed_first_and_blocks_promotion_unless_forced(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    calls = [await analysed_call(gql, admin), await analysed_call(gql, admin)]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, *calls)
    await standin.behave("meddpicc", invalid_output_times=1)  # only the candidate is sent: the first answer breaks
    started = await start(gql, admin, dataset, version["id"], mode="LIVE")
    done = await ended(gql, admin, started["experiment"]["id"])
    first, second = done["calls"]
    assert first["regressed"] and not second["regressed"]
    assert first["candidate"] == {"state": "FAILED", "errorCode": "INVALID_OUTPUT"}
    assert {"score": "SCHEMA_FAILURES", "verdict": "REGRESSED"} in first["verdicts"]
    assert first["diff"] and all(row["candidate"] is None for row in first["diff"])
    [shown, _] = (await gql(DIFF_EVIDENCE, {"id": done["id"]}, as_=admin))["experiment"]["calls"]
    assert shown["candidate"]["result"] is None
    for row in shown["diff"]:  # each side's quotes for the field, as the answer verified them
        element = shown["baseline"]["result"][row["field"].removesuffix(".status")]
        assert row["baseline"] == element["status"] and row["candidateEvidence"] == []
        assert row["baselineEvidence"] == [
            {"quote": e["quote"], "verified": e["verified"]} for e in element["evidence"]
        ]
    assert any(e["verified"] for row in shown["diff"] for e in row["baselineEvidence"])
    schema = next(row for row in done["summary"]["scores"] if row["score"] == "SCHEMA_FAILURES")
    assert (schema["regressed"], schema["unchanged"], schema["improved"]) == (1, 1, 0)
    refused = (await gql(PROMOTE, {"id": done["id"], "force": False}, as_=admin))["promoteExperiment"]
    assert [(e["field"], e["code"]) for e in refused["errors"]] == [("force", "CONFLICT")]
    assert "regressed on schema failures" in refused["errors"][0]["message"]
    template = version["template"]["id"]
    labels = (await gql(LABELS, {"id": template}, as_=admin))["promptTemplate"]
    assert "production" not in {label["name"] for label in labels["labels"]}
    forced = (await gql(PROMOTE, {"id": done["id"], "force": True}, as_=admin))["promoteExperiment"]
    assert forced["errors"] == [] and forced["experiment"]["promotedAt"]
    labels = (await gql(LABELS, {"id": template}, as_=admin))["promptTemplate"]
    assert {"name": "production", "version": {"version": 1}} in labels["labels"]
    [entry] = [e["node"] for e in labels["audit"]["edges"] if e["node"]["label"] == "production"]
    assert entry["action"] == "label_set" and entry["experiment"] == {"id": done["id"]}


async def test_over_the_budget_is_refused_with_the_estimate_and_nothing_is_saved(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    refused = await start(gql, admin, dataset, version["id"], budgetUsd=0.0001)
    assert refused["experiment"] is None
    [error] = refused["errors"]
    assert (error["field"], error["code"]) == ("input.budgetUsd", "INVALID")
    assert "the estimate is $" in error["message"] and "2 requests" in error["message"]
    assert "over the budget of $0.0001" in error["message"]
    both = await start(
        gql, admin, dataset, version["id"], candidate={"label": "production", "versionId": version["id"]}
    )
    assert [(e["field"], e["code"]) for e in both["errors"]] == [("input.candidate", "INVALID")]
    assert (await gql(EXPERIMENTS, as_=admin))["experiments"] == []


async def test_only_admins_see_experiments_and_only_their_tenants(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    other_admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    experiment = (await start(gql, admin, dataset, version["id"], mode="LIVE"))["experiment"]["id"]
    await ended(gql, admin, experiment)
    for operation, variables in (
        (EXPERIMENTS, {}),
        (EXPERIMENT, {"id": experiment}),
        (CANCEL, {"id": experiment}),
        (PROMOTE, {"id": experiment, "force": True}),
    ):
        body = (await gql.raw(operation, variables, as_=member)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", operation
    assert (await gql(EXPERIMENT, {"id": experiment}, as_=other_admin))["experiment"] is None
    assert (await gql(EXPERIMENTS, as_=other_admin))["experiments"] == []
    variables = {
        "input": {
            "datasetId": dataset,
            "agents": ["MEDDPICC"],
            "baseline": {"label": "production"},
            "candidate": {"label": "production"},
        }
    }
    foreign = (await gql.raw(START, variables, as_=other_admin)).json()
    assert foreign["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    promoted = (await gql(PROMOTE, {"id": experiment, "force": True}, as_=other_admin))["promoteExperiment"]
    assert [e["code"] for e in promoted["errors"]] == ["NOT_FOUND"]
    assert [e["id"] for e in (await gql(EXPERIMENTS, as_=admin))["experiments"]] == [experiment]


async def test_a_pool_stopped_mid_batch_is_resumed_without_sending_it_again(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, app: Starlette
) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    await standin.behave("meddpicc", held=True)
    before = await batches_sent(app)
    experiment = (await start(gql, admin, dataset, version["id"]))["experiment"]["id"]
    batch_id = await wait_for(batch_id_of(gql, admin, experiment))
    pool = app.state.experiment_pool
    await pool.stop()  # the server stops while the batch runs at the API
    stopped_as = pool.claimer_id
    await pool.start()  # and starts again: a pool of its own
    assert pool.claimer_id != stopped_as
    await standin.release("meddpicc")
    done = await ended(gql, admin, experiment)
    assert done["status"] == "SUCCEEDED" and done["batchId"] == batch_id
    assert states(done) == {"SUCCEEDED": 2}
    assert await batches_sent(app) == before + 1


async def test_cancel_ends_a_batch_experiment_and_its_unanswered_requests(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    await standin.behave("meddpicc", held=True)
    experiment = (await start(gql, admin, dataset, version["id"]))["experiment"]["id"]
    await wait_for(batch_id_of(gql, admin, experiment))
    canceled = (await gql(CANCEL, {"id": experiment}, as_=admin))["cancelExperiment"]
    assert canceled["errors"] == []
    await standin.release("meddpicc")
    done = await ended(gql, admin, experiment)
    assert done["status"] == "CANCELED"
    assert set(states(done)) <= {"CANCELED", "SUCCEEDED"}
    again = (await gql(CANCEL, {"id": experiment}, as_=admin))["cancelExperiment"]
    assert [(e["field"], e["code"]) for e in again["errors"]] == [("id", "CONFLICT")]


async def test_cancel_stops_the_unsent_live_requests_and_stores_the_sent_ones_once(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, settings: Settings
) -> None:
    admin = await tenants.create()
    calls = [(await transcript_for_analysis(gql, admin))["transcript"] for _ in range(5)]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, *calls)
    total = 2 * len(calls)  # no stored baseline: both sides are sent for every call
    assert settings.analysis_slots < total  # so some requests wait for a slot
    await standin.behave("meddpicc", held=True)
    experiment = (await start(gql, admin, dataset, version["id"], mode="LIVE"))["experiment"]["id"]

    async def all_slots_sent() -> int | None:
        sent = len(await standin.requests())
        return sent if sent == settings.analysis_slots else None

    await wait_for(all_slots_sent)
    canceled = (await gql(CANCEL, {"id": experiment}, as_=admin))["cancelExperiment"]
    assert canceled["errors"] == []
    await standin.release("meddpicc")
    done = await ended(gql, admin, experiment)
    assert done["status"] == "CANCELED"
    assert states(done) == {"SUCCEEDED": settings.analysis_slots, "CANCELED": total - settings.analysis_slots}
    assert len(await standin.requests()) == settings.analysis_slots  # the unsent were never sent
    summary = done["summary"]
    assert summary["baseline"]["requests"] + summary["candidate"]["requests"] == total
    assert summary["baseline"]["succeeded"] + summary["candidate"]["succeeded"] == settings.analysis_slots


EVENTS = """
subscription($id: ID!) { experimentEvents(experimentId: $id) {
  status answered total requestStates { state count } experiment { id }
} }"""


async def test_experiment_events_report_progress_until_it_ends(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, app: Starlette
) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    await standin.behave("meddpicc", held=True)
    experiment = (await start(gql, admin, dataset, version["id"], mode="LIVE"))["experiment"]["id"]
    async with websocket(app, admin.api_key) as ws:
        events = await subscribe(ws, EVENTS, {"id": experiment})
        first = (await events.next())["experimentEvents"]
        assert first["experiment"] == {"id": experiment} and (first["answered"], first["total"]) == (0, 2)
        await standin.release("meddpicc")
        rest = [event["experimentEvents"] for event in await events.collect()]
    assert rest[-1]["status"] == "SUCCEEDED" and rest[-1]["answered"] == 2
    assert rest[-1]["requestStates"] == [{"state": "SUCCEEDED", "count": 2}]
    answered = [event["answered"] for event in [first, *rest]]
    assert answered == sorted(answered)  # progress never goes back


CORRECT = """
mutation($input: CorrectResultInput!) { correctResult(input: $input) { errors { code message } } }"""
STORED = """
query($id: ID!) { node(id: $id) { ... on Transcript { analyses { edges { node { agentRuns {
  result { ... on MeddpiccResult { metrics { status } champion { status } } } } } } } } } }"""
SCORED = """
query($id: ID!) { experiment(id: $id) {
  summary { baseline { correctionsAgreed correctionsTotal correctionAgreement }
            candidate { correctionsAgreed correctionsTotal } }
  calls { candidate { result } diff { field expected } }
} }"""


async def test_answers_are_scored_against_corrections(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    call = await analysed_call(gql, admin)
    runs = (await gql(STORED, {"id": call}, as_=admin))["node"]["analyses"]["edges"][0]["node"]["agentRuns"]
    stored = runs[0]["result"]
    metrics = stored["metrics"]["status"].lower()
    champion = next(s for s in ("missing", "partial", "identified") if s != stored["champion"]["status"].lower())
    for target, value in (("metrics", metrics), ("champion", champion)):  # the baseline agrees on one of two
        correction = {"transcriptId": call, "field": "MEDDPICC_STATUS", "target": target, "value": value}
        assert (await gql(CORRECT, {"input": correction}, as_=admin))["correctResult"]["errors"] == []
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    experiment = (await start(gql, admin, dataset, version["id"], mode="LIVE"))["experiment"]["id"]
    await ended(gql, admin, experiment)
    read = (await gql(SCORED, {"id": experiment}, as_=admin))["experiment"]
    baseline, candidate = read["summary"]["baseline"], read["summary"]["candidate"]
    assert (baseline["correctionsAgreed"], baseline["correctionsTotal"], baseline["correctionAgreement"]) == (1, 2, 0.5)
    [scored] = read["calls"]
    answer = scored["candidate"]["result"]
    agreed = (answer["metrics"]["status"] == metrics) + (answer["champion"]["status"] == champion)
    assert (candidate["correctionsAgreed"], candidate["correctionsTotal"]) == (agreed, 2)
    expected = {row["field"]: row["expected"] for row in scored["diff"]}
    assert expected.get("champion.status", champion) == champion and expected.get("metrics.status", metrics) == metrics


async def test_bad_experiments_are_refused_and_nothing_is_saved(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    cases: list[tuple[dict[str, Any], tuple[str, str]]] = [
        ({"agents": []}, ("input.agents", "INVALID")),
        ({"budgetUsd": -1}, ("input.budgetUsd", "INVALID")),
        ({"baseline": {"label": "nowhere"}}, ("input.baseline", "NOT_FOUND")),
        ({"baseline": {}}, ("input.baseline", "INVALID")),
        ({"agents": ["MEDDPICC", "STAKEHOLDERS"]}, ("input.agents", "INVALID")),  # a version is one agent's
        ({"candidate": {"versionId": call}}, ("input.candidate.versionId", "NOT_FOUND")),
    ]
    for extra, expected in cases:
        payload = await start(gql, admin, dataset, version["id"], **extra)
        assert payload["experiment"] is None and [(e["field"], e["code"]) for e in payload["errors"]] == [expected], (
            extra
        )
    unknown_version = await gql.raw(
        START,
        {
            "input": {
                "datasetId": dataset,
                "datasetVersion": 7,
                "agents": ["MEDDPICC"],
                "baseline": {"label": "production"},
                "candidate": {"label": "production"},
            }
        },
        as_=admin,
    )
    assert unknown_version.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await gql(EXPERIMENTS, as_=admin))["experiments"] == []


LIMITS = """
mutation($budget: Float) {
  updateTenantLimits(input: {experimentBudgetUsd: $budget}) {
    tenant { experimentBudgetUsd appliedExperimentBudgetUsd } errors { field message code }
  }
}"""
BUDGET = "{ viewer { tenant { experimentBudgetUsd appliedExperimentBudgetUsd } } }"
BUDGET_OF = "query($id: ID!) { experiment(id: $id) { budgetUsd } }"


async def budget_of(gql: GraphQLClient, who: TenantHandle) -> dict[str, float | None]:
    tenant: dict[str, float | None] = (await gql(BUDGET, as_=who))["viewer"]["tenant"]
    return tenant


async def started_within(gql: GraphQLClient, who: TenantHandle, dataset: str, version: str, **extra: Any) -> float:
    """Starts a LIVE experiment that must be accepted, waits for its end; its budget."""
    started = await start(gql, who, dataset, version, mode="LIVE", **extra)
    assert started["errors"] == [], started
    await ended(gql, who, started["experiment"]["id"])
    budget: float = (await gql(BUDGET_OF, {"id": started["experiment"]["id"]}, as_=who))["experiment"]["budgetUsd"]
    return budget


async def test_an_admin_lowers_the_tenants_experiment_budget_and_it_is_enforced_for_that_tenant_only(
    gql: GraphQLClient, tenants: TenantFactory, settings: Settings
) -> None:
    capped, other = await tenants.create(), await tenants.create()
    server = settings.experiment_budget_usd
    assert await budget_of(gql, capped) == {"experimentBudgetUsd": None, "appliedExperimentBudgetUsd": server}
    saved = (await gql(LIMITS, {"budget": 0.0001}, as_=capped))["updateTenantLimits"]
    assert saved == {"tenant": {"experimentBudgetUsd": 0.0001, "appliedExperimentBudgetUsd": 0.0001}, "errors": []}
    assert await budget_of(gql, capped) == saved["tenant"]
    assert await budget_of(gql, other) == {"experimentBudgetUsd": None, "appliedExperimentBudgetUsd": server}

    dataset, version = await experiment_setup(gql, capped)
    refused = await start(gql, capped, dataset, version, mode="LIVE")  # no budgetUsd: the tenant's applies
    [error] = refused["errors"]
    assert refused["experiment"] is None and (error["field"], error["code"]) == ("input.budgetUsd", "INVALID")
    assert "the estimate is $" in error["message"] and "over the budget of $0.0001" in error["message"]
    more = await start(gql, capped, dataset, version, mode="LIVE", budgetUsd=1)  # a call may not ask for more
    assert more == {
        "experiment": None,
        "errors": [
            {
                "field": "input.budgetUsd",
                "message": "must be at most $0.0001, your tenant's experiment budget (appliedExperimentBudgetUsd)",
                "code": "INVALID",
            }
        ],
    }
    assert (await gql(EXPERIMENTS, as_=capped))["experiments"] == []  # nothing saved

    other_dataset, other_version = await experiment_setup(gql, other)  # the other tenant keeps the server's
    assert await started_within(gql, other, other_dataset, other_version) == server
    assert await started_within(gql, other, other_dataset, other_version, budgetUsd=1) == 1

    reset = (await gql(LIMITS, {"budget": None}, as_=capped))["updateTenantLimits"]
    assert reset["tenant"] == {"experimentBudgetUsd": None, "appliedExperimentBudgetUsd": server}
    assert await started_within(gql, capped, dataset, version) == server


async def test_the_servers_experiment_budget_stays_the_ceiling(
    gql: GraphQLClient, tenants: TenantFactory, settings: Settings
) -> None:
    tenant = await tenants.create()
    server = settings.experiment_budget_usd
    above = (await gql(LIMITS, {"budget": server * 10}, as_=tenant))["updateTenantLimits"]["tenant"]
    assert above == {"experimentBudgetUsd": server * 10, "appliedExperimentBudgetUsd": server}
    dataset, version = await experiment_setup(gql, tenant)
    over = await start(gql, tenant, dataset, version, mode="LIVE", budgetUsd=server * 2)
    assert [(e["field"], e["message"]) for e in over["errors"]] == [
        (
            "input.budgetUsd",
            f"must be at most ${server:.4f}, your tenant's experiment budget (appliedExperimentBudgetUsd)",
        )
    ]
    assert await started_within(gql, tenant, dataset, version) == server


async def test_a_member_may_neither_set_nor_read_the_experiment_budget(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    refused = (await gql.raw(LIMITS, {"budget": 1}, as_=member)).json()
    assert refused["data"] is None and refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    hidden = (await gql.raw(BUDGET, as_=member)).json()
    assert hidden["data"]["viewer"]["tenant"] == {"experimentBudgetUsd": None, "appliedExperimentBudgetUsd": None}
    assert [(e["path"][-1], e["extensions"]["code"]) for e in hidden["errors"]] == [
        ("experimentBudgetUsd", "FORBIDDEN"),
        ("appliedExperimentBudgetUsd", "FORBIDDEN"),
    ]
    assert (await budget_of(gql, admin))["experimentBudgetUsd"] is None


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (-0.01, "must be at least 0.0"),
        (1_000_000.01, "must be at most 1000000.0"),
        (1e308, "must be at most 1000000.0"),
    ],
    ids=["negative", "over-a-million", "huge"],
)
async def test_an_experiment_budget_out_of_bounds_is_a_field_error_and_nothing_is_saved(
    gql: GraphQLClient, tenants: TenantFactory, budget: float, message: str
) -> None:
    tenant = await tenants.create()
    await gql(LIMITS, {"budget": 3}, as_=tenant)
    payload = (await gql(LIMITS, {"budget": budget}, as_=tenant))["updateTenantLimits"]
    assert payload == {
        "tenant": None,
        "errors": [{"field": "input.experimentBudgetUsd", "message": message, "code": "INVALID"}],
    }
    assert (await budget_of(gql, tenant))["experimentBudgetUsd"] == 3


@pytest.mark.parametrize("budget", [float("nan"), float("inf"), float("-inf")], ids=["nan", "inf", "-inf"])
async def test_an_experiment_budget_that_is_no_number_is_refused_and_nothing_is_saved(
    gql: GraphQLClient, tenants: TenantFactory, budget: float
) -> None:
    """JSON has no NaN or Infinity, but Python's parser reads them: GraphQL's Float refuses them, naming the field."""
    tenant = await tenants.create()
    await gql(LIMITS, {"budget": 3}, as_=tenant)
    document = "mutation($input: TenantLimitsInput!) { updateTenantLimits(input: $input) { errors { field } } }"
    variables = {"input": {"experimentBudgetUsd": budget}}
    body = json.dumps({"query": document, "variables": variables})  # NaN, Infinity: what httpx would not send
    headers = {**tenant.headers, "content-type": "application/json"}
    refused = (await gql.http.post("/graphql", content=body, headers=headers)).json()
    [error] = refused["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert error["message"].startswith("Variable '$input' has invalid value at .experimentBudgetUsd: "), error
    assert "Float cannot represent non numeric value" in error["message"], error
    assert (await budget_of(gql, tenant))["experimentBudgetUsd"] == 3


def stopping_submit(
    pool: ExperimentPool, *, after_create: bool
) -> tuple[Callable[[Mapping[str, StructuredRequest]], Awaitable[BatchStatus]], asyncio.Event]:
    """`pool.batches.submit` as a process that stops sending (before the create, or after it but before the
    batch id is stored): it never returns, so `pool.stop()` ends the pool right there."""
    submit, reached = pool.batches.submit, asyncio.Event()

    async def stopped(requests: Mapping[str, StructuredRequest]) -> BatchStatus:
        if after_create:
            await submit(requests)
        reached.set()
        await asyncio.Event().wait()
        raise AssertionError("the pool was to stop here")

    return stopped, reached


async def test_a_pool_stopped_after_creating_its_batch_finds_it_and_creates_no_second_one(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    await standin.behave("meddpicc", held=True)
    pool = app.state.experiment_pool
    stopped, created = stopping_submit(pool, after_create=True)
    monkeypatch.setattr(pool.batches, "submit", stopped)
    experiment = (await start(gql, admin, dataset, version))["experiment"]["id"]
    await asyncio.wait_for(created.wait(), 20)
    await pool.stop()  # the batch exists at the API; no row names it
    monkeypatch.undo()
    sdk = app.state.graphql.llm.sdk
    [batch] = [batch async for batch in sdk.messages.batches.list()]
    assert (await gql(EXPERIMENT, {"id": experiment}, as_=admin))["experiment"]["batchId"] is None
    caplog.set_level(logging.WARNING, logger="dealgraph.runs.experiment_pool")
    await pool.start()
    await wait_for(lambda: any("waiting for the batches" in r.getMessage() for r in caplog.records) or None)
    await standin.release("meddpicc")  # it ends: its results say whose it is
    done = await ended(gql, admin, experiment)
    assert done["status"] == "SUCCEEDED" and done["batchId"] == batch.id
    assert states(done) == {"SUCCEEDED": 2}
    assert [b.id async for b in sdk.messages.batches.list()] == [batch.id]  # created once
    assert any(f"found its batch {batch.id}" in record.getMessage() for record in caplog.records)


async def test_a_pool_stopped_before_creating_its_batch_creates_it_once_and_takes_no_lookalike(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, app: Starlette, monkeypatch: pytest.MonkeyPatch
) -> None:
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    pool = app.state.experiment_pool
    stopped, reached = stopping_submit(pool, after_create=False)
    monkeypatch.setattr(pool.batches, "submit", stopped)
    experiment = (await start(gql, admin, dataset, version))["experiment"]["id"]
    await asyncio.wait_for(reached.wait(), 20)
    await pool.stop()  # the intent is stored, no batch was created
    monkeypatch.undo()
    sdk = app.state.graphql.llm.sdk
    params = {"model": "claude-sonnet-5-5", "max_tokens": 16, "messages": [{"role": "user", "content": "Hello"}]}
    others: list[Any] = [{"custom_id": f"other-{n}", "params": params} for n in range(2)]
    lookalike = await sdk.messages.batches.create(requests=others)  # as many requests, created since the intent
    await pool.start()
    done = await ended(gql, admin, experiment)
    assert done["status"] == "SUCCEEDED" and states(done) == {"SUCCEEDED": 2}
    listed = [batch.id async for batch in sdk.messages.batches.list()]
    assert len(listed) == 2 and listed[1] == lookalike.id and done["batchId"] == listed[0]


async def test_a_batch_poll_that_fails_for_a_moment_is_polled_again_not_counted_as_an_attempt(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    app: Starlette,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    settings: Settings,
) -> None:
    """A batch may take 24 hours: over that time a poll meets a dropped connection or an overload now and then,
    more often than an experiment has attempts."""
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    pool = app.state.experiment_pool
    status, failures = pool.batches.status, [0]

    async def flaky(batch_id: str) -> BatchStatus:
        if failures[0] < settings.max_run_attempts + 1:
            failures[0] += 1
            raise LlmError("CONNECTION_FAILED", "the connection to the Messages API failed", retryable=True)
        return await status(batch_id)

    monkeypatch.setattr(pool.batches, "status", flaky)
    caplog.set_level(logging.WARNING, logger="dealgraph.runs.experiment_pool")
    experiment = (await start(gql, admin, dataset, version))["experiment"]["id"]
    done = await ended(gql, admin, experiment)
    assert done["status"] == "SUCCEEDED" and states(done) == {"SUCCEEDED": 2}
    assert failures[0] == settings.max_run_attempts + 1
    assert sum("polling on" in record.getMessage() for record in caplog.records) == failures[0]
