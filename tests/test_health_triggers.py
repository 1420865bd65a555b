"""What requests a deal's health recompute (database triggers, so no write path forgets one), and the health pool's
job discipline: a request while it computes queues the deal again, a lost lease stores nothing, time alone
requeues a deal when a day-based warning is due. The pool is driven step by step here (`run_once`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.repositories import health
from dealgraph.deal_health.pool import HealthPool
from dealgraph.services.health import stored
from dealgraph.services.health_rules import Assessment, HealthStatus
from dealgraph.services.ids import node_uuid
from tests.analysis_support import start, wait_until_finished
from tests.factories import create_deal_with_account, create_transcript
from tests.graphql_documents import DELETE_TRANSCRIPT, UPDATE_DEAL
from tests.support import GraphQLClient, TenantFactory

UPDATE_SETTINGS = """
mutation($w: [WarningSettingInput!]!) { updateHealthSettings(input: {warnings: $w}) { errors { message } } }"""


async def job(app: Starlette, deal_id: str) -> dict[str, Any]:
    async with app.state.database.owner_session() as session:
        row = (
            await session.execute(
                text("SELECT status, generation, health, version, recheck_at FROM deal_health WHERE deal_id = :d"),
                {"d": node_uuid(deal_id, "Deal")},
            )
        ).one()
    return dict(row._mapping)


async def drain(pool: HealthPool) -> int:
    """Run the pool until nothing is queued; how many jobs it ran."""
    ran = 0
    while await pool.run_once():
        ran += 1
    return ran


async def test_each_change_health_depends_on_requests_a_recompute(
    app: Starlette, settings: Settings, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    pool = HealthPool(app.state.database, settings)
    deal = await create_deal_with_account(gql, who)
    assert (await job(app, deal["id"]))["status"] == "queued"  # created
    await drain(pool)
    done = await job(app, deal["id"])
    assert done["status"] == "done" and done["health"] == HealthStatus.UNKNOWN.value

    async def requested_by(change: Any) -> None:
        before = (await job(app, deal["id"]))["generation"]
        await change()
        after = await job(app, deal["id"])
        assert (after["status"], after["generation"]) == ("queued", before + 1), change
        await drain(pool)
        assert (await job(app, deal["id"]))["status"] == "done"

    transcript: dict[str, Any] = {}

    async def add_transcript() -> None:
        transcript.update(await create_transcript(gql, who, deal["id"]))

    async def change_stage() -> None:
        await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "stage": "PROPOSAL"}}, as_=who)

    async def finish_analysis() -> None:
        analysis = await start(gql, who, transcript["id"], agents=["MEDDPICC"])
        await wait_until_finished(gql, who, analysis["id"])

    async def save_settings() -> None:
        await gql(UPDATE_SETTINGS, {"w": [{"code": "NO_ACTIVITY", "threshold": 7}]}, as_=who)

    async def delete_transcript() -> None:
        await gql(DELETE_TRANSCRIPT, {"id": transcript["id"]}, as_=who)

    for change in (add_transcript, change_stage, finish_analysis, save_settings, delete_transcript):
        await requested_by(change)

    # a write that changes nothing health depends on requests nothing
    generation = (await job(app, deal["id"]))["generation"]
    await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "name": "Renamed"}}, as_=who)
    assert (await job(app, deal["id"]))["generation"] == generation


async def test_a_request_while_computing_queues_the_deal_again(
    app: Starlette, settings: Settings, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    pool = HealthPool(app.state.database, settings)
    deal = await create_deal_with_account(gql, who)
    deal_id = node_uuid(deal["id"], "Deal")
    assert deal_id is not None
    await drain(pool)  # whatever other tests left queued, and this deal
    await gql(UPDATE_DEAL, {"input": {"id": deal["id"], "stage": "PROPOSAL"}}, as_=who)
    async with app.state.database.autocommit() as connection:
        claimed = await health.claim(connection, claimer_id=pool.claimer_id, lease_s=30, max_attempts=3)
    assert claimed is not None and claimed.deal_id == deal_id
    await create_transcript(gql, who, deal["id"])  # requested meanwhile: generation + 1, still running
    assert (await job(app, deal["id"]))["status"] == "running"
    assessment = Assessment(HealthStatus.UNKNOWN, [], None, None)
    async with app.state.database.tenant_session(who.tenant_id) as session:
        assert await health.store(session, claimed, pool.claimer_id, stored(assessment), changed=True) is not None
    assert (await job(app, deal["id"]))["status"] == "queued"  # computed from what was, so computed again

    async with app.state.database.tenant_session(who.tenant_id) as session:  # no longer held: a lost lease
        assert await health.store(session, claimed, pool.claimer_id, stored(assessment), changed=True) is None


async def test_time_alone_requeues_a_deal_whose_warning_is_due(
    app: Starlette, settings: Settings, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    pool = HealthPool(app.state.database, settings)
    deal = await create_deal_with_account(gql, who)
    await drain(pool)
    async with app.state.database.owner_session() as session:
        await session.execute(
            text("UPDATE deal_health SET recheck_at = now() - interval '1 second' WHERE deal_id = :d"),
            {"d": node_uuid(deal["id"], "Deal")},
        )
    await pool.tick()
    assert (await job(app, deal["id"]))["status"] == "queued"
    await drain(pool)
    assert (await job(app, deal["id"]))["status"] == "done"
