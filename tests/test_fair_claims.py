"""Agent runs are claimed fairly across tenants: one tenant's flood of analyses does not queue another's behind it."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, StandinControl, TenantFactory, make_settings

FLOOD = 3  # analyses of the flooding tenant: 12 runs, six rounds of the cap


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, analysis_slots=4, llm_concurrency=2)


async def test_a_tenant_queued_behind_another_tenants_flood_is_served_at_the_next_free_slot(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, latency_s=0.3)
    flooding, other = await tenants.create(), await tenants.create()
    flooding_transcript = (await transcript_for_analysis(gql, flooding))["transcript"]
    other_transcript = (await transcript_for_analysis(gql, other))["transcript"]
    flood = [await start(gql, flooding, flooding_transcript, force=True) for _ in range(FLOOD)]
    late = await start(gql, other, other_transcript)

    assert (await wait_until_finished(gql, other, late["id"], timeout=30))["status"] == "SUCCEEDED"
    for analysis in flood:
        assert (await wait_until_finished(gql, flooding, analysis["id"], timeout=30))["status"] == "SUCCEEDED"
    async with app.state.database.owner_session() as session:
        started = (
            await session.execute(
                select(AgentRun.tenant_id, AgentRun.started_at).where(
                    AgentRun.tenant_id.in_([flooding.tenant_id, other.tenant_id])
                )
            )
        ).all()
    others_last_start = max(at for tenant, at in started if tenant == other.tenant_id)
    flood_after = sum(1 for tenant, at in started if tenant == flooding.tenant_id and at > others_last_start)
    # First come, first served would start all of the flood's runs first (0 after); fair claims start the
    # late tenant's four at the next free slots, while most of the flood still waits.
    assert flood_after >= len(AGENTS), sorted(started, key=lambda row: row[1])
