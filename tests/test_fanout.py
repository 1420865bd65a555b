"""Fan-out of live events to many subscribers: one read per event per process, tenants kept apart,
bounded queues, and hundreds of WebSocket subscribers on one analysis all receiving every event.

Every test holds the agent's answer in the stand-in until all subscribers have their snapshot, so
what is measured (events received, transactions begun) is counted, never timed.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from typing import Any

import pytest
from sqlalchemy import event, text
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.session import Database, TenantScope
from dealgraph.fanout.hub import _QUEUE_LIMIT, EVENTS_CHANNEL, RESYNC, NotificationHub
from dealgraph.fanout.single_flight import CoalescedReads
from dealgraph.schema.shared_events import SharedEventExecution
from dealgraph.services.analysis_events import RunState, analysis_snapshot, stream_events
from dealgraph.services.ids import node_uuid
from dealgraph.standin import RunningStandin
from tests.analysis_support import start, transcript_for_analysis, wait_for_runs
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    TenantHandle,
    authenticate,
    connect_websocket,
    make_settings,
    subscribe,
    wait_for,
)

LEAN_EVENTS = """subscription($id: ID!) { analysisEvents(analysisId: $id) {
  __typename
  ... on AgentEvent { agent analysisId }
  ... on AgentSucceeded { result { __typename } }
  ... on AnalysisFinished { status analysis { totals { succeeded pending } } }
} }"""
EXPECTED = ["AgentStarted", "AgentSucceeded", "AnalysisFinished"]
"""State events of a one-agent analysis whose run was already running when the subscriber came."""


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """A lease long enough that hundreds of handshakes on the test's one loop never look like a dead worker;
    progress at the default pace (the other modules speed it up), so result events are what is fanned out."""
    return make_settings(database_url, standin_server.base_url, lease_s=60.0, progress_interval_s=0.25)


@contextmanager
def counting_transactions(database: Database) -> Iterator[list[int]]:
    """Transactions the process begins (any pool connection) while the block runs; [count] when done."""
    begun = [0]

    def on_begin(_connection: Any) -> None:
        begun[0] += 1

    event.listen(database.engine.sync_engine, "begin", on_begin)
    try:
        yield begun
    finally:
        event.remove(database.engine.sync_engine, "begin", on_begin)


async def _held_running_analysis(gql: GraphQLClient, who: TenantHandle, standin: StandinControl) -> str:
    """An ACTION_ITEMS analysis whose run is running, its answer held by the stand-in until released."""
    await standin.behave("action_items", latency_s=0.05, held=True)
    ids = await transcript_for_analysis(gql, who)
    analysis_id: str = (await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"]))["id"]
    await wait_for_runs(gql, who, analysis_id, {"ACTION_ITEMS": "RUNNING"}, timeout=20)
    return analysis_id


_CONNECTING = asyncio.Semaphore(10)
"""Handshakes at once: hundreds in one loop would only queue behind each other, and one client address
may hold only so many sockets before `connection_init` is acknowledged."""


async def _subscriber(
    app: Starlette, who: TenantHandle, analysis_id: str, ready: asyncio.Queue[None]
) -> list[dict[str, Any]]:
    """Subscribe, signal once the snapshot arrived, then collect every event until the server completes."""
    async with AsyncExitStack() as connection:
        async with _CONNECTING:
            ws = await connection.enter_async_context(connect_websocket(app))
            await authenticate(ws, who.api_key, timeout=120)
            subscription = await subscribe(ws, LEAN_EVENTS, {"id": analysis_id})
            first = await subscription.next(timeout=120)
        assert first is not None
        ready.put_nowait(None)
        return [first["analysisEvents"], *(e["analysisEvents"] for e in await subscription.collect(timeout=120))]


async def _fan_out(
    app: Starlette, who: TenantHandle, analysis_id: str, count: int
) -> tuple[asyncio.Future[list[Any]], asyncio.Queue[None]]:
    ready: asyncio.Queue[None] = asyncio.Queue()
    tasks = [asyncio.create_task(_subscriber(app, who, analysis_id, ready)) for _ in range(count)]
    return asyncio.gather(*tasks), ready


async def _all_ready(ready: asyncio.Queue[None], count: int, gathered: asyncio.Future[list[Any]]) -> None:
    for _ in range(count):
        getter = asyncio.ensure_future(ready.get())
        await asyncio.wait([getter, gathered], timeout=180, return_when=asyncio.FIRST_COMPLETED)
        if gathered.done():  # a subscriber failed before the release: surface its error
            getter.cancel()
            gathered.result()
        assert getter.done(), "subscribers did not all get their snapshot"


def _state_events(events: list[dict[str, Any]]) -> list[str]:
    return [e["__typename"] for e in events if e["__typename"] != "AgentProgress"]


async def test_one_read_per_event_however_many_subscribers(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    subscribers = 60
    who = await tenants.create()
    analysis_id = await _held_running_analysis(gql, who, standin)
    gathered, ready = await _fan_out(app, who, analysis_id, subscribers)
    await _all_ready(ready, subscribers, gathered)
    hub: NotificationHub = app.state.hub
    reads_before, executions_before = hub.shared_reads.reads, SharedEventExecution.executions
    with counting_transactions(app.state.database) as begun:
        await standin.release("action_items")
        results = await asyncio.wait_for(gathered, 180)
    # each event's selection executed once for all 60 (same document and role), not once per subscriber
    assert 0 < SharedEventExecution.executions - executions_before < subscribers // 2, SharedEventExecution.executions
    assert all(_state_events(events) == EXPECTED for events in results), {tuple(_state_events(e)) for e in results}
    assert all(events[-1]["analysis"]["totals"] == {"succeeded": 1, "pending": 0} for events in results)
    assert hub.shared_reads.reads - reads_before == 2  # the result and the end: once each, for all 60
    # the worker's own writes plus those two reads; one read per subscriber would be >= 120
    assert begun[0] < subscribers // 2, begun[0]


async def test_a_snapshot_read_is_shared_only_by_callers_that_asked_before_it_began() -> None:
    """A caller arriving once the read has begun may have missed a commit it made: it gets a read of its own."""
    reads = CoalescedReads()
    connection_free, statements_done = asyncio.Event(), asyncio.Event()
    began: list[int] = []

    async def read(begin: Any) -> int:
        await connection_free.wait()
        begin()
        began.append(len(began) + 1)
        number = len(began)
        await statements_done.wait()
        return number

    early = [asyncio.ensure_future(reads.get("analysis", read)) for _ in range(50)]
    await asyncio.sleep(0)
    connection_free.set()
    while not began:
        await asyncio.sleep(0)
    late = asyncio.ensure_future(reads.get("analysis", read))
    other_key = asyncio.ensure_future(reads.get("other analysis", read))
    await asyncio.sleep(0)
    statements_done.set()
    assert await asyncio.gather(*early) == [1] * 50
    assert sorted([await late, await other_key]) == [2, 3]
    assert reads.reads == 3


async def test_subscribers_arriving_together_share_one_snapshot_read(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    subscribers = 100
    who = await tenants.create()
    analysis_id = await _held_running_analysis(gql, who, standin)
    target = node_uuid(analysis_id, "Analysis")
    assert target is not None
    hub: NotificationHub = app.state.hub
    scope = TenantScope(app.state.database, who.tenant_id)

    async def first_event() -> object:
        events = stream_events(
            scope,
            hub,
            topic=("analysis", str(target)),
            snapshot=lambda begin: analysis_snapshot(scope, target, begin),
            until_finished=True,
        )
        try:
            return await anext(events)
        finally:
            await events.aclose()

    reads_before = hub.snapshot_reads.reads
    with counting_transactions(app.state.database) as begun:
        firsts = await asyncio.gather(*(first_event() for _ in range(subscribers)))
    assert all(isinstance(event, RunState) and event.run.status.value == "running" for event in firsts)
    assert hub.snapshot_reads.reads - reads_before <= 3, hub.snapshot_reads.reads - reads_before
    assert begun[0] <= 3, begun[0]
    await standin.release("action_items")


async def test_500_websocket_subscribers_on_one_analysis_all_receive_every_event(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    subscribers = 500
    who = await tenants.create()
    analysis_id = await _held_running_analysis(gql, who, standin)
    gathered, ready = await _fan_out(app, who, analysis_id, subscribers)
    await _all_ready(ready, subscribers, gathered)
    await standin.release("action_items")
    results = await asyncio.wait_for(gathered, 240)
    assert len(results) == subscribers
    assert [_state_events(events) for events in results] == [EXPECTED] * subscribers
    assert {events[-1]["status"] for events in results} == {"SUCCEEDED"}
    results_pushed = {
        e["result"]["__typename"] for events in results for e in events if e["__typename"] == "AgentSucceeded"
    }
    assert results_pushed == {"ActionItemsResult"}


async def test_concurrent_fan_out_to_two_tenants_keeps_them_apart(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    first, second = await tenants.create(), await tenants.create()
    await standin.behave("action_items", latency_s=0.05, held=True)
    analyses = {}
    for who in (first, second):
        ids = await transcript_for_analysis(gql, who)
        analyses[who.tenant_id] = (await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"]))["id"]
    ready: asyncio.Queue[None] = asyncio.Queue()
    tasks = [
        asyncio.create_task(_subscriber(app, who, analyses[who.tenant_id], ready))
        for who in (first, second)
        for _ in range(10)
    ]
    gathered = asyncio.gather(*tasks)
    await _all_ready(ready, len(tasks), gathered)
    await standin.release("action_items")
    results = await asyncio.wait_for(gathered, 120)
    for position, events in enumerate(results):
        own = analyses[(first if position < 10 else second).tenant_id]
        assert {e["analysisId"] for e in events if "analysisId" in e} == {own}
        assert _state_events(events)[-2:] == ["AgentSucceeded", "AnalysisFinished"]


async def _notify(database: Database, payloads: list[dict[str, Any]]) -> None:
    async with database.owner_session() as session:
        for payload in payloads:
            await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": EVENTS_CHANNEL, "p": json.dumps(payload)})


async def _settled(queue: asyncio.Queue[Any], size: int) -> None:
    await wait_for(lambda: queue.qsize() >= size)


async def test_events_reach_only_subscriptions_of_their_topic(app: Starlette) -> None:
    hub: NotificationHub = app.state.hub
    mine, other = str(uuid.uuid4()), str(uuid.uuid4())
    async with (
        hub.subscribe(lambda _: True, ("analysis", mine)) as on_mine,
        hub.subscribe(lambda _: True, ("analysis", other)) as on_other,
        hub.subscribe(lambda e: e.get("analysis") in (mine, other)) as everything,
    ):
        await _notify(
            app.state.database, [{"kind": "test", "analysis": mine, "n": n} for n in range(2)]
        )  # distinct: PostgreSQL folds duplicates
        await _settled(everything.queue, 2)
        assert (on_mine.queue.qsize(), on_other.queue.qsize(), everything.queue.qsize()) == (2, 0, 2)


async def test_a_subscriber_that_falls_behind_is_resynced_not_buffered(app: Starlette) -> None:
    hub: NotificationHub = app.state.hub
    analysis, after = str(uuid.uuid4()), str(uuid.uuid4())
    async with (
        hub.subscribe(lambda _: True, ("analysis", analysis)) as lagging,
        hub.subscribe(lambda _: True, ("analysis", after)) as behind_the_flood,
    ):
        flood = [{"kind": "progress", "analysis": analysis, "n": n} for n in range(_QUEUE_LIMIT + 50)]
        await _notify(app.state.database, flood)
        await _notify(app.state.database, [{"kind": "test", "analysis": after}])
        await _settled(behind_the_flood.queue, 1)  # one listener dispatches in commit order: the flood is through
        assert lagging.queue.qsize() <= _QUEUE_LIMIT
        pending = [lagging.queue.get_nowait() for _ in range(lagging.queue.qsize())]
    assert RESYNC in pending  # it re-reads the database; the events it missed are not kept for it
