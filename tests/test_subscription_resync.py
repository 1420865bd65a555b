"""A subscriber hears every state of the analysis and its end even when the read that announces one loses its
connection, or the notification itself is lost while the listener reconnects: the subscription retries the
read, or resyncs, and never leaves the client waiting for an AnalysisFinished that does not come."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette

from dealgraph.db.repositories import analyses
from dealgraph.fanout.hub import NotificationHub
from harness.postgres import asyncpg_dsn
from tests.analysis_support import (
    ANALYSIS_EVENTS,
    DEAL_EVENTS,
    kinds,
    start,
    transcript_for_analysis,
    wait_for_runs,
    wait_until_finished,
)
from tests.support import (
    GraphQLClient,
    StandinControl,
    Subscription,
    TenantFactory,
    TenantHandle,
    subscribe,
    terminate_connections,
    wait_for,
    websocket,
)

AFTER_RELEASE = [("AgentSucceeded", "ACTION_ITEMS"), ("AnalysisFinished", None)]


def state_kinds(events: list[dict[str, Any]], key: str) -> list[tuple[str, str | None]]:
    return [kind for kind in kinds(events, key) if kind[0] != "AgentProgress"]


async def until_finished(subscription: Subscription, key: str) -> list[dict[str, Any]]:
    """Events up to AnalysisFinished (a deal's subscription goes on after it); fails if it never comes."""
    events: list[dict[str, Any]] = []
    while not events or events[-1][key]["__typename"] != "AnalysisFinished":
        event = await subscription.next(timeout=15)
        assert event is not None, f"completed without AnalysisFinished: {events}"
        events.append(event)
    return events


@pytest.fixture
async def admin(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    yield connection
    await connection.close()


def lose_connection_once(monkeypatch: pytest.MonkeyPatch, admin: asyncpg.Connection, read: str) -> list[uuid.UUID]:
    """The next call of the repository's `read` has its database session terminated (and waits until it is gone)
    before it runs, as a failover or an idle-connection killer would between two statements; returns the ids it
    was called with."""
    original = getattr(analyses, read)
    calls: list[uuid.UUID] = []

    async def terminated_first(session: AsyncSession, row_id: uuid.UUID) -> Any:
        calls.append(row_id)
        if len(calls) == 1:
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 5000)", pid)
        return await original(session, row_id)

    monkeypatch.setattr(analyses, read, terminated_first)
    return calls


async def running_with_subscribers(
    app: Starlette, gql: GraphQLClient, who: TenantHandle, standin: StandinControl, ws: Any
) -> tuple[str, Subscription, Subscription]:
    """A held ACTION_ITEMS analysis, running, with a deal subscriber and an analysis subscriber up to date."""
    await standin.behave("action_items", latency_s=0.05, held=True)
    ids = await transcript_for_analysis(gql, who)
    hub: NotificationHub = app.state.hub
    before = hub.subscriber_count
    deal = await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]})
    await wait_for(lambda: hub.subscriber_count > before)
    analysis_id: str = (await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"]))["id"]
    await wait_for_runs(gql, who, analysis_id, {"ACTION_ITEMS": "RUNNING"}, timeout=20)
    single = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis_id})
    assert state_kinds([await single.next()], "analysisEvents") == [("AgentStarted", "ACTION_ITEMS")]
    seen: list[dict[str, Any]] = []
    while ("AgentStarted", "ACTION_ITEMS") not in state_kinds(seen, "dealAnalysisEvents"):
        seen.append(await deal.next())
    return analysis_id, deal, single


@pytest.mark.parametrize("read", ["runs_by_agent", "get_run"], ids=["the end's read", "the result's read"])
async def test_a_lost_connection_under_a_live_events_read_loses_no_event(
    app: Starlette,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    monkeypatch: pytest.MonkeyPatch,
    admin: asyncpg.Connection,
    read: str,
) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        analysis_id, deal, single = await running_with_subscribers(app, gql, who, standin, ws)
        calls = lose_connection_once(monkeypatch, admin, read)
        await standin.release("action_items")
        deal_events = await until_finished(deal, "dealAnalysisEvents")
        single_events = await single.collect()
    assert len(calls) >= 2  # the read lost its connection, and was made again
    assert state_kinds(deal_events, "dealAnalysisEvents") == AFTER_RELEASE
    assert state_kinds(single_events, "analysisEvents") == AFTER_RELEASE
    assert deal_events[-1]["dealAnalysisEvents"]["status"] == "SUCCEEDED"
    assert {event["dealAnalysisEvents"].get("analysisId", analysis_id) for event in deal_events} == {analysis_id}


async def test_a_deal_subscriber_hears_an_analysis_that_ended_while_its_notifications_were_lost(
    app: Starlette,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    monkeypatch: pytest.MonkeyPatch,
    admin: asyncpg.Connection,
    database_url: str,
) -> None:
    """The deal's snapshot holds only analyses in progress: one that ended unheard must still be announced."""
    who = await tenants.create()
    hub: NotificationHub = app.state.hub
    async with websocket(app, who.api_key) as ws:
        analysis_id, deal, _ = await running_with_subscribers(app, gql, who, standin, ws)
        lost: list[str] = []
        monkeypatch.setattr(hub, "_dispatch", lost.append)  # what the listener misses while it is disconnected
        await standin.release("action_items")
        await wait_until_finished(gql, who, analysis_id)
        await wait_for(lambda: any('"finished"' in payload for payload in lost))
        monkeypatch.undo()
        assert await terminate_connections(admin, str(make_url(database_url).database)) > 0  # the listener too
        deal_events = await until_finished(deal, "dealAnalysisEvents")
    assert state_kinds(deal_events, "dealAnalysisEvents") == AFTER_RELEASE
    assert deal_events[-1]["dealAnalysisEvents"]["status"] == "SUCCEEDED"
    assert {event["dealAnalysisEvents"].get("analysisId", analysis_id) for event in deal_events} == {analysis_id}
