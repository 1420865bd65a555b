"""Shared set-up of the prompt experiment tests: a candidate version, a dataset, starting an experiment and
waiting for its end."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.applications import Starlette

from tests.analysis_support import start as start_analysis
from tests.analysis_support import transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, TenantHandle, wait_for

CREATE_VERSION = """
mutation($input: PromptVersionInput!) {
  createPromptVersion(input: $input) { promptVersion { id version template { id } } errors { field message code } }
}"""
CREATE_DATASET = """
mutation($input: CreateDatasetInput!) { createDataset(input: $input) { dataset { id } errors { message } } }"""
START = """
mutation($input: StartExperimentInput!) {
  startExperiment(input: $input) {
    experiment { id status mode baseline candidate estimatedCostUsd pairwise } errors { field message code }
  }
}"""
STATUS = "query($id: ID!) { experiment(id: $id) { status batchId } }"


async def candidate_version(gql: GraphQLClient, who: TenantHandle, **extra: Any) -> dict[str, Any]:
    version_input = {
        "agent": "MEDDPICC",
        "systemText": "You qualify sales calls for {{ account.name }} with MEDDPICC.",
        "userTemplate": "Deal {{ deal.name }}. Call the `{{ agent }}` tool.",
        **extra,
    }
    payload = (await gql(CREATE_VERSION, {"input": version_input}, as_=who))["createPromptVersion"]
    assert payload["errors"] == [], payload
    return dict(payload["promptVersion"])


async def dataset_of(gql: GraphQLClient, who: TenantHandle, *transcripts: str) -> str:
    selection = {"transcriptIds": list(transcripts)}
    payload = await gql(CREATE_DATASET, {"input": {"name": "calls", "selection": selection}}, as_=who)
    return str(payload["createDataset"]["dataset"]["id"])


async def analysed_call(gql: GraphQLClient, who: TenantHandle) -> str:
    """A call whose MEDDPICC result of the production prompt is already stored."""
    call = await transcript_for_analysis(gql, who)
    analysis = await start_analysis(gql, who, call["transcript"], agents=["MEDDPICC"])
    await wait_until_finished(gql, who, analysis["id"])
    return call["transcript"]


async def start(gql: GraphQLClient, who: TenantHandle, dataset: str, version: str, **extra: Any) -> dict[str, Any]:
    variables = {
        "input": {
            "datasetId": dataset,
            "agents": ["MEDDPICC"],
            "baseline": {"label": "production"},
            "candidate": {"versionId": version},
            **extra,
        }
    }
    payload: dict[str, Any] = (await gql(START, variables, as_=who))["startExperiment"]
    return payload


async def ended(
    gql: GraphQLClient, who: TenantHandle, experiment: str, timeout: float = 20, query: str = STATUS
) -> dict[str, Any]:
    """The experiment as `query` (on `$id`, asking for its `status`) reads it once it has ended."""

    async def read() -> dict[str, Any] | None:
        found: dict[str, Any] = (await gql(query, {"id": experiment}, as_=who))["experiment"]
        return found if found["status"] not in ("QUEUED", "RUNNING") else None

    found: dict[str, Any] = await wait_for(read, timeout)
    return found


def states(experiment: dict[str, Any]) -> dict[str, int]:
    return {row["state"]: row["count"] for row in experiment["requestStates"]}


def batch_id_of(gql: GraphQLClient, who: TenantHandle, experiment: str) -> Callable[[], Awaitable[str | None]]:
    async def read() -> str | None:
        found: str | None = (await gql(STATUS, {"id": experiment}, as_=who))["experiment"]["batchId"]
        return found

    return read


async def batches_sent(app: Starlette) -> int:
    sdk = app.state.graphql.llm.sdk
    return len([batch async for batch in sdk.messages.batches.list(limit=1000)])


async def experiment_setup(gql: GraphQLClient, who: TenantHandle) -> tuple[str, str]:
    """A dataset of one fresh call and a candidate version: two requests to send."""
    call = (await transcript_for_analysis(gql, who))["transcript"]
    version = await candidate_version(gql, who)
    return await dataset_of(gql, who, call), version["id"]
