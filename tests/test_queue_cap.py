"""A tenant's queue of agent runs is capped: an analysis beyond it is refused, whole, and other tenants are not."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun, Analysis
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, START, start, transcript_for_analysis
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings

CAP = 2 * len(AGENTS)


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    # no analysis pool: every run stays queued
    return make_settings(database_url, standin_server.base_url, analysis_slots=0, max_queued_runs=CAP)


async def rows(app: Starlette, who: TenantHandle) -> tuple[int, int]:
    async with app.state.database.owner_session() as session:
        analyses = await session.scalar(select(func.count()).where(Analysis.tenant_id == who.tenant_id))
        runs = await session.scalar(select(func.count()).where(AgentRun.tenant_id == who.tenant_id))
    return analyses or 0, runs or 0


async def test_an_analysis_beyond_the_tenants_queue_cap_is_refused_and_nothing_is_created(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    full, other = await tenants.create(), await tenants.create()
    transcript = (await transcript_for_analysis(gql, full))["transcript"]
    for _ in range(CAP // len(AGENTS)):
        await start(gql, full, transcript, force=True)
    assert await rows(app, full) == (2, CAP)

    refused = await gql.raw(START, {"t": transcript, "force": True}, as_=full)
    error = refused.json()["errors"][0]
    assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert f"{CAP} agent runs are waiting to start, at most {CAP}" in error["message"]
    assert await rows(app, full) == (2, CAP)  # nothing half-created

    # one agent more does not fit either; another tenant's queue is its own
    one_more = await gql.raw(START, {"t": transcript, "force": True, "agents": ["MEDDPICC"]}, as_=full)
    assert one_more.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    other_transcript = (await transcript_for_analysis(gql, other))["transcript"]
    await start(gql, other, other_transcript)
    assert await rows(app, other) == (1, len(AGENTS))
