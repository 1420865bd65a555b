"""Datasets through the API: calls picked by ids or filters, frozen versions, admins only, tenant-isolated."""

from __future__ import annotations

from typing import Any

import pytest

from dealgraph.db.models import Role
from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle

CREATE = """
mutation($input: CreateDatasetInput!) {
  createDataset(input: $input) { dataset { id name latestVersion } errors { field message code } }
}"""
ADD = """
mutation($input: AddToDatasetInput!) {
  addToDataset(input: $input) { version { version callCount calls { id } } errors { field message code } }
}"""
DATASET = """
query($id: ID!) { node(id: $id) { ... on Dataset { name latestVersion
  versions { version callCount calls { id } createdBy { email } selection { transcriptIds dealIds correctedOnly } }
  first: version(number: 1) { callCount } } } }"""
DATASETS = "{ datasets { name } }"
CORRECT = """
mutation($input: CorrectResultInput!) { correctResult(input: $input) { errors { code } } }"""


async def calls(gql: GraphQLClient, who: TenantHandle, *moments: str) -> list[dict[str, str]]:
    """One call per moment, each on a deal (and account) of its own."""
    made = []
    for index, moment in enumerate(moments):
        deal = await create_deal_with_account(gql, who, f"Account {index}")
        transcript = await create_transcript(gql, who, deal["id"], occurredAt=moment)
        made.append({"deal": deal["id"], "account": deal["account"]["id"], "transcript": transcript["id"]})
    return made


async def create(gql: GraphQLClient, who: TenantHandle, name: str, **selection: Any) -> dict[str, Any]:
    payload: dict[str, Any] = (await gql(CREATE, {"input": {"name": name, "selection": selection}}, as_=who))[
        "createDataset"
    ]
    return payload


async def add(gql: GraphQLClient, who: TenantHandle, dataset: str, **selection: Any) -> dict[str, Any]:
    variables = {"input": {"datasetId": dataset, "selection": selection}}
    payload: dict[str, Any] = (await gql(ADD, variables, as_=who))["addToDataset"]
    return payload


async def test_versions_are_frozen_and_adding_calls_makes_the_next_one(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    first, second, third = await calls(
        gql, admin, "2026-01-05T10:00:00Z", "2026-02-05T10:00:00Z", "2026-03-05T10:00:00Z"
    )
    created = await create(gql, admin, "  Q1 discovery ", dealIds=[first["deal"], second["deal"]])
    assert created["errors"] == [] and created["dataset"]["name"] == "Q1 discovery"
    dataset = created["dataset"]["id"]
    added = await add(gql, admin, dataset, transcriptIds=[third["transcript"], first["transcript"]])
    assert added["errors"] == [] and added["version"]["version"] == 2
    assert [c["id"] for c in added["version"]["calls"]] == [
        first["transcript"],
        second["transcript"],
        third["transcript"],
    ]
    read = (await gql(DATASET, {"id": dataset}, as_=admin))["node"]
    assert read["latestVersion"] == 2 and read["first"] == {"callCount": 2}
    v2, v1 = read["versions"]
    assert [c["id"] for c in v1["calls"]] == [first["transcript"], second["transcript"]]  # unchanged by the addition
    assert v1["selection"]["dealIds"] == [first["deal"], second["deal"]] and v1["selection"]["transcriptIds"] is None
    assert v2["selection"]["transcriptIds"] == [third["transcript"], first["transcript"]]
    assert v2["createdBy"]["email"].startswith("admin@")
    nothing_new = await add(gql, admin, dataset, transcriptIds=[second["transcript"]])
    assert [(e["field"], e["code"]) for e in nothing_new["errors"]] == [("input.selection", "INVALID")]


async def test_calls_are_picked_by_accounts_dates_and_corrections(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    jan, feb, mar = await calls(gql, admin, "2026-01-05T10:00:00Z", "2026-02-05T10:00:00Z", "2026-03-05T10:00:00Z")
    by_dates = await create(
        gql, admin, "feb-mar", occurredFrom="2026-02-01T00:00:00Z", occurredTo="2026-03-06T00:00:00Z"
    )
    by_account = await create(gql, admin, "jan account", accountIds=[jan["account"]])
    both = await create(gql, admin, "none", accountIds=[jan["account"]], occurredFrom="2026-02-01T00:00:00Z")
    uncorrected = await create(gql, admin, "uncorrected", correctedOnly=True)
    correction = {
        "transcriptId": mar["transcript"],
        "field": "MEDDPICC_STATUS",
        "target": "metrics",
        "value": "partial",
    }
    assert (await gql(CORRECT, {"input": correction}, as_=admin))["correctResult"]["errors"] == []
    corrected = await create(gql, admin, "corrected", correctedOnly=True)
    for name, payload, expected in (
        ("feb-mar", by_dates, [feb, mar]),
        ("jan account", by_account, [jan]),
        ("corrected", corrected, [mar]),
    ):
        read = (await gql(DATASET, {"id": payload["dataset"]["id"]}, as_=admin))["node"]
        assert [c["id"] for c in read["versions"][0]["calls"]] == [call["transcript"] for call in expected], name
    for refused in (both, uncorrected):  # they select no calls
        assert [(e["field"], e["code"]) for e in refused["errors"]] == [("input.selection", "INVALID")]


async def test_bad_selections_and_names_are_refused_and_nothing_is_saved(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    admin = await tenants.create()
    [call] = await calls(gql, admin, "2026-01-05T10:00:00Z")
    assert (await create(gql, admin, "kept", transcriptIds=[call["transcript"]]))["errors"] == []
    cases = [
        ({"name": "empty"}, [("input.selection", "INVALID")]),
        ({"name": "kept", "transcriptIds": [call["transcript"]]}, [("input.name", "CONFLICT")]),
        ({"name": " ", "transcriptIds": [call["transcript"]]}, [("input.name", "INVALID")]),
        (
            {"name": "gone", "transcriptIds": [call["transcript"], call["deal"]]},
            [("input.selection.transcriptIds", "NOT_FOUND")],
        ),
        (
            {"name": "backwards", "occurredFrom": "2026-02-01T00:00:00Z", "occurredTo": "2026-01-01T00:00:00Z"},
            [("input.selection.occurredTo", "INVALID")],
        ),
    ]
    for fields, expected in cases:
        name = fields.pop("name")
        payload = await create(gql, admin, name, **fields)
        assert payload["dataset"] is None and [(e["field"], e["code"]) for e in payload["errors"]] == expected, name
    assert (await gql(DATASETS, as_=admin))["datasets"] == [{"name": "kept"}]


async def test_only_admins_see_datasets_and_only_their_tenants(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    other_admin = await tenants.create()
    [call] = await calls(gql, admin, "2026-01-05T10:00:00Z")
    dataset = (await create(gql, admin, "mine", transcriptIds=[call["transcript"]]))["dataset"]["id"]
    for operation, variables in (
        (CREATE, {"input": {"name": "x", "selection": {"transcriptIds": [call["transcript"]]}}}),
        (ADD, {"input": {"datasetId": dataset, "selection": {"transcriptIds": [call["transcript"]]}}}),
        (DATASETS, {}),
    ):
        body = (await gql.raw(operation, variables, as_=member)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", operation
    assert (await gql(DATASET, {"id": dataset}, as_=member))["node"] is None
    assert (await gql(DATASET, {"id": dataset}, as_=other_admin))["node"] is None
    assert (await gql(DATASETS, as_=other_admin))["datasets"] == []
    foreign = await add(gql, other_admin, dataset, transcriptIds=[call["transcript"]])
    assert [(e["field"], e["code"]) for e in foreign["errors"]] == [("input.datasetId", "NOT_FOUND")]


ESTIMATE = """
query($id: ID!, $label: String!, $version: Int, $agents: [AgentKind!]) {
  experimentEstimate(datasetId: $id, promptLabel: $label, datasetVersion: $version, agents: $agents) {
    requests inputTokens maxOutputTokens liveCostUsd batchCostUsd simulated
  }
}"""


async def test_an_estimate_counts_every_request_and_prices_it_live_and_batched(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    first, second = await calls(gql, admin, "2026-01-05T10:00:00Z", "2026-02-05T10:00:00Z")
    dataset = (await create(gql, admin, "two", transcriptIds=[first["transcript"]]))["dataset"]["id"]
    await add(gql, admin, dataset, transcriptIds=[second["transcript"]])
    variables = {"id": dataset, "label": "production"}
    whole = (await gql(ESTIMATE, variables, as_=admin))["experimentEstimate"]
    assert whole["requests"] == 8 and whole["simulated"] and whole["inputTokens"] > 0
    assert whole["maxOutputTokens"] >= 8 * 1024
    assert whole["batchCostUsd"] == pytest.approx(whole["liveCostUsd"] / 2, abs=1e-4) and whole["liveCostUsd"] > 0
    assert await standin.token_counts("meddpicc") == 2  # counted, never sent
    first_version = (await gql(ESTIMATE, {**variables, "version": 1, "agents": ["MEDDPICC"]}, as_=admin))[
        "experimentEstimate"
    ]
    assert first_version["requests"] == 1 and first_version["inputTokens"] < whole["inputTokens"]
    unknown = (await gql.raw(ESTIMATE, {**variables, "label": "nowhere"}, as_=admin)).json()
    assert unknown["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    refused = (await gql.raw(ESTIMATE, variables, as_=member)).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
