"""A tenant's queue of agent runs is capped (by the server, and lower by the tenant's admins): an analysis beyond it
is refused, whole, and other tenants are not."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun, Analysis, Role
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS, START, start, transcript_for_analysis
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings

CAP = 2 * len(AGENTS)
LIMITS = """
mutation($cap: Int) {
  updateTenantLimits(input: {maxQueuedRuns: $cap}) {
    tenant { maxQueuedRuns appliedMaxQueuedRuns }
    errors { field message code }
  }
}"""
VIEWER_LIMITS = "{ viewer { tenant { maxQueuedRuns appliedMaxQueuedRuns } } }"


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


async def limits(gql: GraphQLClient, who: TenantHandle) -> dict[str, int | None]:
    tenant: dict[str, int | None] = (await gql(VIEWER_LIMITS, as_=who))["viewer"]["tenant"]
    return tenant


async def test_an_admin_lowers_the_tenants_cap_and_it_is_enforced_for_that_tenant_only(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    capped, other = await tenants.create(), await tenants.create()
    assert await limits(gql, capped) == {"maxQueuedRuns": None, "appliedMaxQueuedRuns": CAP}

    saved = (await gql(LIMITS, {"cap": len(AGENTS)}, as_=capped))["updateTenantLimits"]
    assert saved == {"tenant": {"maxQueuedRuns": len(AGENTS), "appliedMaxQueuedRuns": len(AGENTS)}, "errors": []}
    assert await limits(gql, capped) == saved["tenant"]
    assert await limits(gql, other) == {"maxQueuedRuns": None, "appliedMaxQueuedRuns": CAP}

    transcript = (await transcript_for_analysis(gql, capped))["transcript"]
    await start(gql, capped, transcript, force=True)
    refused = (await gql.raw(START, {"t": transcript, "force": True, "agents": ["MEDDPICC"]}, as_=capped)).json()
    error = refused["errors"][0]
    assert error["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert f"{len(AGENTS)} agent runs are waiting to start, at most {len(AGENTS)}" in error["message"]
    assert await rows(app, capped) == (1, len(AGENTS))  # nothing half-created

    other_transcript = (await transcript_for_analysis(gql, other))["transcript"]  # B keeps the server's cap
    for _ in range(CAP // len(AGENTS)):
        await start(gql, other, other_transcript, force=True)
    assert await rows(app, other) == (CAP // len(AGENTS), CAP)

    # back to the server's default: the tenant's queue takes a second analysis again
    reset = (await gql(LIMITS, {"cap": None}, as_=capped))["updateTenantLimits"]
    assert reset["tenant"] == {"maxQueuedRuns": None, "appliedMaxQueuedRuns": CAP}
    await start(gql, capped, transcript, force=True)
    assert await rows(app, capped) == (2, CAP)


async def test_the_servers_cap_stays_the_ceiling_and_zero_queues_nothing(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    tenant = await tenants.create()
    above = (await gql(LIMITS, {"cap": CAP * 10}, as_=tenant))["updateTenantLimits"]["tenant"]
    assert above == {"maxQueuedRuns": CAP * 10, "appliedMaxQueuedRuns": CAP}
    transcript = (await transcript_for_analysis(gql, tenant))["transcript"]
    for _ in range(CAP // len(AGENTS)):
        await start(gql, tenant, transcript, force=True)
    over = (await gql.raw(START, {"t": transcript, "force": True}, as_=tenant)).json()
    assert over["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"

    paused = await tenants.create()
    await gql(LIMITS, {"cap": 0}, as_=paused)
    paused_transcript = (await transcript_for_analysis(gql, paused))["transcript"]
    refused = (await gql.raw(START, {"t": paused_transcript}, as_=paused)).json()
    assert refused["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert "0 agent runs are waiting to start, at most 0" in refused["errors"][0]["message"]
    assert await rows(app, paused) == (0, 0)


async def test_a_member_may_not_change_the_cap(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    refused = (await gql.raw(LIMITS, {"cap": 1}, as_=member)).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert await limits(gql, member) == {"maxQueuedRuns": None, "appliedMaxQueuedRuns": CAP}


@pytest.mark.parametrize(
    ("cap", "message"), [(-1, "must be at least 0"), (100_001, "must be at most 100000")], ids=["negative", "huge"]
)
async def test_a_cap_out_of_bounds_is_a_field_error_and_nothing_is_saved(
    gql: GraphQLClient, tenants: TenantFactory, cap: int, message: str
) -> None:
    tenant = await tenants.create()
    await gql(LIMITS, {"cap": 3}, as_=tenant)
    payload = (await gql(LIMITS, {"cap": cap}, as_=tenant))["updateTenantLimits"]
    assert payload == {
        "tenant": None,
        "errors": [{"field": "input.maxQueuedRuns", "message": message, "code": "INVALID"}],
    }
    assert (await limits(gql, tenant))["maxQueuedRuns"] == 3
