"""`/metrics`: refused without the token, absent unless enabled, and the families move with real work: GraphQL
operations over HTTP, a WebSocket subscription, an analysis against the stand-in, the run queue, the pools.
With `serve --api-processes 2`, a scrape of either process adds up every process's values."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.runs.engine import analysis_engine
from dealgraph.standin import RunningStandin
from tests.analysis_support import (
    AGENTS,
    ANALYSIS_EVENTS,
    analyse_through,
    start,
    transcript_for_analysis,
)
from tests.processes import serving, without_a_key
from tests.support import (
    GraphQLClient,
    TenantFactory,
    asgi_client,
    make_settings,
    running_app,
    server_client,
    subscribe,
    websocket,
)

TOKEN = "scrape-token-0123456789"
SCRAPER = {"Authorization": f"Bearer {TOKEN}"}
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """No analysis pool in the app: runs stay queued until a test starts one (`analysis_engine`)."""
    return make_settings(database_url, standin_server.base_url, metrics_token=TOKEN, analysis_slots=0)


async def scrape(http: httpx.AsyncClient) -> Samples:
    answer = await http.get("/metrics", headers=SCRAPER)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(answer.text)
        for sample in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples that have these labels (and any others)."""
    wanted = set(labels.items())
    return sum(value for (sample, have), value in samples.items() if sample == name and wanted <= have)


async def test_metrics_are_refused_without_the_token(http: httpx.AsyncClient) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong-token-0123456789"}, {"Authorization": TOKEN}):
        refused = await http.get("/metrics", headers=headers)
        assert refused.status_code == 401, headers
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert "dealgraph_" not in refused.text
    assert (await http.get("/metrics", headers=SCRAPER)).status_code == 200


async def test_no_metrics_route_unless_a_token_is_set(settings: Settings) -> None:
    async with running_app(settings.model_copy(update={"metrics_token": None})) as bare, asgi_client(bare) as client:
        assert (await client.get("/metrics", headers=SCRAPER)).status_code == 404


async def test_operations_sockets_queue_and_agent_runs_move_their_families(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, tenants: TenantFactory, settings: Settings
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    before = await scrape(http)
    await gql("{ viewer { role } }", as_=who)
    invalid = await http.post("/graphql", json={"query": "{ noSuchField }"}, headers=who.headers)
    assert invalid.json()["errors"][0]["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    analysis = await start(gql, who, ids["transcript"])

    queued = await scrape(http)
    operations = "dealgraph_graphql_operation_duration_seconds_count"
    assert total(queued, operations, type="query", code="OK") >= total(before, operations, type="query", code="OK") + 1
    failed = {"type": "query", "code": "GRAPHQL_VALIDATION_FAILED"}
    assert total(queued, operations, **failed) == total(before, operations, **failed) + 1
    assert total(queued, operations, type="mutation", code="OK") >= total(before, operations, type="mutation") + 1
    assert total(queued, "dealgraph_queued_runs") >= len(AGENTS)  # no pool in this app: they wait
    assert total(queued, "dealgraph_oldest_queued_run_age_seconds") > 0
    pool_waits = "dealgraph_db_pool_wait_seconds_count"
    assert total(queued, pool_waits, pool="orm") > total(before, pool_waits, pool="orm")

    async with websocket(app, who.api_key) as ws:
        live = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
        await live.next()  # the subscription runs
        watching = await scrape(http)
        assert total(watching, "dealgraph_open_websockets") == total(before, "dealgraph_open_websockets") + 1
        assert total(watching, "dealgraph_active_subscriptions") == total(before, "dealgraph_active_subscriptions") + 1
        async with analysis_engine(app.state.database, settings.model_copy(update={"analysis_slots": 8})):
            await live.collect(timeout=60)
    after = await scrape(http)

    assert total(after, "dealgraph_open_websockets") == total(before, "dealgraph_open_websockets")
    assert total(after, "dealgraph_active_subscriptions") == total(before, "dealgraph_active_subscriptions")
    runs = "dealgraph_agent_run_duration_seconds_count"
    for agent in AGENTS:
        done = {"agent": agent, "model": settings.llm_model, "outcome": "succeeded"}
        assert total(after, runs, **done) == total(before, runs, **done) + 1, agent
        first_token = "dealgraph_agent_first_token_seconds_count"
        assert total(after, first_token, agent=agent) == total(before, first_token, agent=agent) + 1
        for kind in ("input", "output"):
            tokens = {"agent": agent, "kind": kind}
            assert total(after, "dealgraph_agent_tokens_total", **tokens) > total(
                before, "dealgraph_agent_tokens_total", **tokens
            )
        assert total(after, "dealgraph_agent_cost_usd_total", agent=agent) > total(
            before, "dealgraph_agent_cost_usd_total", agent=agent
        )
    labels = {label for (name, have) in after for label, _ in have if name.startswith("dealgraph_")}
    assert labels <= {"type", "code", "agent", "model", "outcome", "kind", "pool", "le"}  # no tenant, no name


@pytest.mark.processes
async def test_serve_with_two_api_processes_adds_up_every_process(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str, tmp_path: Path
) -> None:
    """The analysis pool runs in a process of its own: its agent runs reach a scrape of an API process. The
    operations sent over fresh connections are counted whichever process served them. A file left by an earlier
    `serve` in the operator's directory is removed at start, not added in."""
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_999999.db").write_bytes(b"stale")
    env = without_a_key(database_url, analysis_slots="4", metrics_token=TOKEN) | {
        "PROMETHEUS_MULTIPROC_DIR": str(directory)
    }
    with serving(env, "--api-processes", "2") as (base_url, process):
        assert not (directory / "counter_999999.db").exists()
        events = await analyse_through(base_url, who, ids["transcript"])
        assert events[-1]["analysisEvents"]["status"] == "SUCCEEDED", process.output()
        sent = 20

        async def one_query() -> None:
            async with server_client(base_url, timeout=30) as client:  # a connection each
                answer = await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=who.headers)
                assert answer.status_code == 200

        async with server_client(base_url, timeout=30) as client:
            before = await scrape(client)
            await asyncio.gather(*(one_query() for _ in range(sent)))
            scrapes = [await scrape(client) for _ in range(6)]  # whichever process answers, the sums agree
        writers = {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}
        assert len(writers) >= 3, writers  # both API processes and the pool's
        operations = "dealgraph_graphql_operation_duration_seconds_count"
        for samples in scrapes:
            counted = total(samples, operations, type="query", code="OK") - total(before, operations, type="query")
            assert counted >= sent
            for agent in ("meeting_intelligence", "action_items"):
                assert total(samples, "dealgraph_agent_run_duration_seconds_count", agent=agent) == 1
            assert total(samples, "dealgraph_queued_runs") == 0
