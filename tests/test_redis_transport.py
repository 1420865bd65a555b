"""Run events over Redis pub/sub (DEALGRAPH_EVENT_TRANSPORT=redis), against a real Redis server.

Uses the Redis named by TEST_REDIS_URL (CI), else the one on 127.0.0.1:6379 when it answers, else starts a
redis-server of its own on a free port (harness/redis.py); skipped only when none of these exists outside CI. The channel is named after the test's database, so parallel runs sharing a Redis never mix.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import redis.asyncio as redis
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.repositories import runs
from dealgraph.fanout.hub import EVENTS_CHANNEL, RESYNC
from dealgraph.fanout.redis import RedisEvents
from dealgraph.standin import RunningStandin
from harness.postgres import connected
from harness.redis import REQUIRED, NoRedis, redis_server
from tests.analysis_support import analyse_live, kinds, transcript_for_analysis
from tests.support import GraphQLClient, StandinControl, TenantFactory, make_settings, wait_for


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    try:
        with redis_server() as url:
            yield url
    except NoRedis as missing:
        pytest.skip(f"{missing} (CI sets {REQUIRED}, and then a missing Redis fails)")


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin, redis_url: str) -> Settings:
    return make_settings(database_url, standin_server.base_url, event_transport="redis", redis_url=redis_url)


@pytest.fixture
async def heard_on_redis(redis_url: str, database_url: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Every payload published on the test database's channel while the test runs."""
    client = redis.Redis.from_url(redis_url)
    pubsub = client.pubsub(ignore_subscribe_messages=True)
    await pubsub.subscribe(RedisEvents(redis_url, database_url).channel)
    heard: list[dict[str, Any]] = []

    async def collect() -> None:
        async for message in pubsub.listen():
            heard.append(json.loads(message["data"]))

    task = asyncio.create_task(collect())
    yield heard
    task.cancel()
    await pubsub.aclose()
    await client.aclose()


@pytest.fixture
async def heard_on_postgres(database_url: str) -> AsyncIterator[list[str]]:
    heard: list[str] = []
    async with connected(database_url) as connection:
        await connection.add_listener(EVENTS_CHANNEL, lambda *args: heard.append(args[-1]))
        yield heard


async def test_live_analysis_events_travel_through_redis_not_notify(
    app: Starlette,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    heard_on_redis: list[dict[str, Any]],
    heard_on_postgres: list[str],
) -> None:
    await standin.behave("action_items", latency_s=0.1)
    await standin.behave("stakeholders", latency_s=0.1)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis, events = await analyse_live(app, gql, who, ids["transcript"], agents=["ACTION_ITEMS", "STAKEHOLDERS"])
    state = [k for k in kinds(events) if k[0] != "AgentProgress"]
    assert sorted(agent for typename, agent in state if typename == "AgentSucceeded") == [
        "ACTION_ITEMS",
        "STAKEHOLDERS",
    ]
    assert state[-1] == ("AnalysisFinished", None) and len(state) == len(set(state))
    mine = [e for e in heard_on_redis if e.get("analysis") and e.get("tenant") == str(who.tenant_id)]
    assert {e["kind"] for e in mine} >= {"started", "succeeded", "finished"}
    assert heard_on_postgres == []  # nothing on NOTIFY: the database only commits


async def test_events_leave_on_commit_and_never_on_rollback(
    app: Starlette, heard_on_redis: list[dict[str, Any]]
) -> None:
    database = app.state.database
    marker = str(uuid.uuid4())
    with pytest.raises(RuntimeError):
        async with database.owner_session() as session:
            await runs.notify(session, [{"kind": "test", "analysis": marker, "outcome": "rolled back"}])
            raise RuntimeError("the change fails")
    async with database.owner_session() as session:
        await runs.notify(session, [{"kind": "test", "analysis": marker, "outcome": "committed"}])
    # One sender publishes in commit order, and the subscription hears in that order: had the rolled-back event
    # left, it would have arrived before the committed one.
    await wait_for(lambda: any(e.get("analysis") == marker for e in heard_on_redis))
    assert [e["outcome"] for e in heard_on_redis if e.get("analysis") == marker] == ["committed"]


async def test_a_lost_redis_subscription_resyncs_every_subscriber(
    app: Starlette, redis_url: str, database_url: str
) -> None:
    hub = app.state.hub
    channel = RedisEvents(redis_url, database_url).channel
    admin = redis.Redis.from_url(redis_url)
    async with hub.subscribe(lambda _: True, ("analysis", str(uuid.uuid4()))) as subscription:
        ours = [c for c in await admin.client_list() if c.get("name") == channel and int(c.get("sub", 0)) > 0]
        assert ours, "the process holds a named Redis subscription"
        for client in ours:  # only this test database's listener: others sharing the Redis are untouched
            await admin.client_kill_filter(_id=client["id"])
        assert await asyncio.wait_for(subscription.queue.get(), 30) is RESYNC
    await admin.aclose()
