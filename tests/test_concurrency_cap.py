"""The cluster-wide concurrency cap: never more agent runs executing than DEALGRAPH_LLM_CONCURRENCY."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, analyse_live, transcript_for_analysis
from tests.support import GraphQLClient, StandinControl, TenantFactory, make_settings


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, analysis_slots=8, llm_concurrency=2)


async def test_at_most_cap_runs_execute_at_once(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, latency_s=0.4)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    _, events = await analyse_live(app, gql, who, ids["transcript"])
    running: set[str] = set()
    most = 0
    for event in (e["analysisEvents"] for e in events):
        if event["__typename"] == "AgentStarted":
            running.add(event["agent"])
        elif event["__typename"] in ("AgentSucceeded", "AgentFailed"):
            running.discard(event["agent"])
        most = max(most, len(running))
    assert most == 2  # parallel, but capped
    assert events[-1]["analysisEvents"]["status"] == "SUCCEEDED"
