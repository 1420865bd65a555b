"""Shared set-up of the analysis tests: a transcript to analyse, the GraphQL documents, and an analysis through a
`dealgraph serve` process."""

from __future__ import annotations

from typing import Any

from httpx_ws import aconnect_ws
from starlette.types import ASGIApp

from harness.transcripts import DISCOVERY_CALL
from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, Subscription, TenantHandle, server_client, subscribe, wait_for, websocket

AGENTS = ("meeting_intelligence", "action_items", "stakeholders", "meddpicc")


EVENT_FIELDS = """
  __typename
  ... on AgentEvent { agent analysisId runId }
  ... on AgentStarted { attempt }
  ... on AgentProgress { outputTokens }
  ... on AgentFailed { error { code message } }
  ... on AgentSucceeded {
    run { status metadata { simulated attempts evidenceVerified evidenceTotal promptVersion } }
    result { __typename
      ... on MeddpiccResult { economicBuyer { status evidence { quote verified speaker start utteranceIndex } } }
      ... on ActionItemsResult { items { description evidence { verified } } }
      ... on StakeholdersResult { stakeholders { name } }
      ... on MeetingIntelligenceResult { summary talkTime { speaker share } }
    }
  }
  ... on AnalysisFinished { status analysis { totals { succeeded failed cancelled pending outputTokens } } }
"""
ANALYSIS_EVENTS = f"subscription($id: ID!) {{ analysisEvents(analysisId: $id) {{ {EVENT_FIELDS} }} }}"
DEAL_EVENTS = f"subscription($id: ID!) {{ dealAnalysisEvents(dealId: $id) {{ {EVENT_FIELDS} }} }}"

START = """
mutation($t: ID!, $agents: [AgentKind!], $key: String, $promptLabel: String! = "production", $force: Boolean! = false) {
  startAnalysis(transcriptId: $t, agents: $agents, idempotencyKey: $key, promptLabel: $promptLabel, force: $force) {
    analysis { id status agents }
    errors { field message code }
  }
}"""
ANALYSIS = """
query($id: ID!) {
  analysis(id: $id) {
    id status startedAt finishedAt simulated
    totals { succeeded failed cancelled pending inputTokens outputTokens cacheReadTokens cacheWriteTokens }
    agentRuns { agent status attempts error { code message }
      metadata { model promptVersion promptVersionId inputTokens outputTokens latencyMs attempts simulated evidenceVerified evidenceTotal reusedFromRunId }
      promptVersion { id version template { isBuiltin } }
      result { __typename } }
  }
}"""


async def transcript_for_analysis(gql: GraphQLClient, who: TenantHandle) -> dict[str, str]:
    deal = await create_deal_with_account(gql, who, "Northwind", name="Northwind platform")
    transcript = await create_transcript(gql, who, deal["id"], title="Discovery", content=DISCOVERY_CALL)
    return {"deal": deal["id"], "transcript": transcript["id"]}


async def start(gql: GraphQLClient, who: TenantHandle, transcript_id: str, **variables: Any) -> dict[str, Any]:
    payload = (await gql(START, {"t": transcript_id, **variables}, as_=who))["startAnalysis"]
    assert payload["errors"] == [], payload
    return payload["analysis"]


async def wait_until_finished(
    gql: GraphQLClient, who: TenantHandle, analysis_id: str, timeout: float = 15
) -> dict[str, Any]:
    async def finished() -> dict[str, Any] | None:
        analysis: dict[str, Any] = (await gql(ANALYSIS, {"id": analysis_id}, as_=who))["analysis"]
        return analysis if analysis["finishedAt"] is not None else None

    analysis: dict[str, Any] = await wait_for(finished, timeout)
    return analysis


async def wait_for_runs(
    gql: GraphQLClient, who: TenantHandle, analysis_id: str, statuses: dict[str, str], timeout: float = 15
) -> None:
    """Until the analysis's runs are stored with these statuses (by agent, as the API spells them)."""

    async def stored() -> bool:
        runs = (await gql(ANALYSIS, {"id": analysis_id}, as_=who))["analysis"]["agentRuns"]
        return {run["agent"]: run["status"] for run in runs} == statuses

    await wait_for(stored, timeout)


async def analyse_live(
    app: ASGIApp, gql: GraphQLClient, who: TenantHandle, transcript_id: str, **variables: Any
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start an analysis over HTTP and collect its analysisEvents over a WebSocket until it completes."""
    async with websocket(app, who.api_key) as ws:
        analysis = await start(gql, who, transcript_id, **variables)
        events = await (await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})).collect()
    return analysis, events


def kinds(events: list[dict[str, Any]], key: str = "analysisEvents") -> list[tuple[str, str | None]]:
    return [(e[key]["__typename"], e[key].get("agent")) for e in events]


async def analyse_through(base_url: str, who: TenantHandle, transcript_id: str) -> list[dict[str, Any]]:
    """Start an analysis over HTTP on the server and collect its events over a WebSocket to the same server."""
    async with server_client(base_url, timeout=30) as client:
        variables = {"t": transcript_id, "agents": ["MEETING_INTELLIGENCE", "ACTION_ITEMS"]}
        started = await client.post("/graphql", json={"query": START, "variables": variables}, headers=who.headers)
        analysis_id = started.json()["data"]["startAnalysis"]["analysis"]["id"]
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}})
            assert (await ws.receive_json())["type"] == "connection_ack"
            await ws.send_json(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": ANALYSIS_EVENTS, "variables": {"id": analysis_id}},
                }
            )
            return await Subscription(ws, "1").collect(timeout=60)
