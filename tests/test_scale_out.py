"""Scale-out across real processes: a killed worker's run is finished by another, and a
subscriber on one server process sees runs executed by another (LISTEN/NOTIFY fan-out)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx_ws import aconnect_ws
from sqlalchemy import func, update

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun, RunStatus
from dealgraph.db.repositories import runs
from dealgraph.standin import RunningStandin
from harness.processes import START_TIMEOUT_S, running
from tests.analysis_support import (
    ANALYSIS,
    ANALYSIS_EVENTS,
    START,
    kinds,
    start,
    transcript_for_analysis,
    wait_until_finished,
)
from tests.processes import process_env, servers
from tests.support import (
    GraphQLClient,
    StandinControl,
    Subscription,
    TenantFactory,
    make_settings,
    server_client,
    subscribe,
    wait_for,
    websocket,
)

pytestmark = pytest.mark.processes


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """The in-process app only serves the API here: every run is executed by a separate process."""
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)


async def _run_state(gql: GraphQLClient, who: Any, analysis_id: str) -> dict[str, Any]:
    return (await gql(ANALYSIS, {"id": analysis_id}, as_=who))["analysis"]["agentRuns"][0]


@pytest.mark.timeout(2 * START_TIMEOUT_S + 60)  # two pool processes start, one after the other
async def test_run_of_a_killed_worker_is_completed_by_another(
    app: Any,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    database_url: str,
    standin_server: RunningStandin,
) -> None:
    await standin.behave("meddpicc", held=True)  # its answer never finishes for the doomed process
    env = process_env(database_url, standin_server.base_url)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    async with websocket(app, who.api_key) as ws:
        with running(["analysis-pool"], env) as doomed:
            analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
            events = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
            queued = (await events.next(timeout=20))["analysisEvents"]
            first = (await events.next(timeout=START_TIMEOUT_S))["analysisEvents"]  # once the pool has started
            assert queued["__typename"] == "AgentQueued"
            assert (first["__typename"], first["attempt"]) == ("AgentStarted", 1), doomed.output()
            await wait_for(lambda: standin.statuses("meddpicc"))  # mid-run: the model is writing
            doomed.kill()
        assert (await _run_state(gql, who, analysis["id"]))["status"] == "RUNNING"  # orphaned, lease still held

        await standin.behave("meddpicc", latency_s=0.2)
        with running(["analysis-pool"], env) as rescuer:
            rest = await events.collect(timeout=START_TIMEOUT_S)  # the first event waits for the pool's start
            assert rest, rescuer.output()
    retried = [e["analysisEvents"]["attempt"] for e in rest if e["analysisEvents"]["__typename"] == "AgentStarted"]
    assert retried == [2]
    assert kinds(rest)[-2:] == [("AgentSucceeded", "MEDDPICC"), ("AnalysisFinished", None)]
    run = await _run_state(gql, who, analysis["id"])
    assert run["status"] == "SUCCEEDED" and run["attempts"] == 2


async def test_subscriber_on_one_server_sees_runs_executed_by_another(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    database_url: str,
    standin_server: RunningStandin,
) -> None:
    for agent, latency in {"meeting_intelligence": 0.3, "action_items": 0.6}.items():
        await standin.behave(agent, latency_s=latency)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    listening = process_env(database_url, standin_server.base_url, analysis_slots="0")
    executing = process_env(database_url, standin_server.base_url, analysis_slots="4")
    with servers(listening, executing) as (server_a, server_b):
        async with server_client(server_a) as client_a, server_client(server_b) as client_b:
            async with aconnect_ws("/graphql", client_a, subprotocols=["graphql-transport-ws"]) as ws:
                await ws.send_json({"type": "connection_init", "payload": {"authorization": f"Bearer {who.api_key}"}})
                assert (await ws.receive_json())["type"] == "connection_ack"
                variables = {"t": ids["transcript"], "agents": ["MEETING_INTELLIGENCE", "ACTION_ITEMS"]}
                started = await client_b.post(
                    "/graphql", json={"query": START, "variables": variables}, headers=who.headers
                )
                analysis_id = started.json()["data"]["startAnalysis"]["analysis"]["id"]
                await ws.send_json(
                    {
                        "id": "remote",
                        "type": "subscribe",
                        "payload": {"query": ANALYSIS_EVENTS, "variables": {"id": analysis_id}},
                    }
                )
                collected = await Subscription(ws, "remote").collect(timeout=20)
    succeeded = [agent for typename, agent in kinds(collected) if typename == "AgentSucceeded"]
    assert sorted(succeeded) == [
        "ACTION_ITEMS",
        "MEETING_INTELLIGENCE",
    ]  # each once; their order is timing, not the point
    assert kinds(collected)[-1] == ("AnalysisFinished", None)
    assert (await wait_until_finished(gql, who, analysis_id))["status"] == "SUCCEEDED"


async def test_run_whose_workers_keep_dying_fails_as_worker_lost(
    app: Any, gql: GraphQLClient, tenants: TenantFactory, settings: Settings
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
    database = app.state.database
    async with database.owner_session() as session:  # as if its last worker died holding it
        await session.execute(
            update(AgentRun)
            .where(AgentRun.status == RunStatus.QUEUED)
            .values(
                status=RunStatus.RUNNING,
                worker_id="ghost",
                attempts=settings.max_run_attempts,
                lease_expires_at=func.now() - timedelta(seconds=1),
            )
        )
    async with database.autocommit() as connection:
        assert await runs.fail_exhausted_runs(connection, settings.max_run_attempts) == 1
    stored = await wait_until_finished(gql, who, analysis["id"])
    [run] = stored["agentRuns"]
    assert stored["status"] == "FAILED" and run["status"] == "FAILED" and run["error"]["code"] == "WORKER_LOST"
