"""Test fixtures: real PostgreSQL, a migrated database per test module, requests through the ASGI app.

Uses TEST_DATABASE_URL / DATABASE_URL when set (e.g. the server on 127.0.0.1:5432; either URL form), else starts
the embedded PostgreSQL in a temporary directory. Each module's database is a clone of a template migrated once
per run and server (harness/postgres.py).
"""

from __future__ import annotations

import asyncio
import gc
import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING

import httpx
import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import AgentBehaviour, RunningStandin, StandinConfig, start_standin_in_thread
from harness.pg_statements import CountingProxy
from harness.postgres import MigratedTemplates, configured_server, embedded_server, fresh_database
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    asgi_client,
    make_settings,
    running_app,
    standin_sdk,
)

if TYPE_CHECKING:
    import anthropic  # the controller of a parallel run needs no SDK (a second of CPU to import)

SHARED_SERVER = "DEALGRAPH_TEST_SHARED_SERVER"
SHARED_TEMPLATE = "DEALGRAPH_TEST_SHARED_TEMPLATE"
"""Set by pytest-xdist's controller for its workers, which inherit its environment."""


def pytest_configure(config: pytest.Config) -> None:
    """With pytest-xdist, the controller starts the run's PostgreSQL (unless one is configured) and migrates its
    template once, for every worker: four workers starting and migrating four of their own cost a run tens of
    seconds of CPU on two cores.

    Every process collects the youngest generation every 10,000 allocations instead of 700, as a server does
    while it starts (`dealgraph.server.heap`): the imports and the tests allocate quickly, and reference counting
    frees nearly all of it anyway."""
    gc.set_threshold(10_000)
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", default=None):
        return
    stack = ExitStack()
    config.add_cleanup(stack.close)
    configured = configured_server()
    url = (
        configured[0]
        if configured
        else stack.enter_context(embedded_server(prefix="dealgraph-test-pg-", crash_safe=False))
    )
    templates = MigratedTemplates()
    # Registered after the server, so it runs before the server stops (callbacks run last-in first-out).
    stack.callback(lambda: asyncio.run(templates.drop_all()))
    os.environ[SHARED_TEMPLATE] = asyncio.run(templates.template_for(url))
    os.environ[SHARED_SERVER] = url


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The modules that start processes first, then the others, those with more tests first (pytest-xdist's
    own order, which `--no-loadscope-reorder` in the Makefile hands over to this hook). xdist gives whole modules
    to its workers in this order (`--dist loadfile`), and the modules that start processes are the longest (a
    drain waits out its deadline, a server takes seconds to start): one started last kept a single worker busy
    for 20 s after the others had finished."""
    starting = {item.path for item in items if item.get_closest_marker("processes")}
    tests = Counter(item.path for item in items)
    items.sort(key=lambda item: (item.path not in starting, -tests[item.path]))  # stable: a module keeps its order


def pytest_collection_finish() -> None:
    """What the imports and the collection made lives as long as the process: frozen, it is left out of every
    later full collection. A worker's heap is half a million objects or more, and its full collections took 20 s
    of a run's CPU, most of it walking those."""
    gc.collect()
    gc.freeze()


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    if shared := os.environ.get(SHARED_SERVER):
        yield shared
        return
    if configured := configured_server():
        yield configured[0]
        return
    with embedded_server(prefix="dealgraph-test-pg-", crash_safe=False) as url:
        yield url


@pytest.fixture(scope="session")
async def migrated_templates() -> AsyncIterator[MigratedTemplates]:
    shared = os.environ.get(SHARED_TEMPLATE)
    templates = MigratedTemplates(shared={os.environ[SHARED_SERVER]: shared} if shared else None)
    yield templates
    await templates.drop_all()


@pytest.fixture(scope="module")
async def database_url(server_url: str, migrated_templates: MigratedTemplates) -> AsyncIterator[str]:
    """The module's own database, migrated to head."""
    async with migrated_templates.clone(server_url) as database:
        yield database.url


@pytest.fixture(scope="module")
async def empty_database_url(server_url: str) -> AsyncIterator[str]:
    """A database of the module's own with nothing in it, for what must start from scratch (the migrations)."""
    async with fresh_database(server_url, prefix="dealgraph_test") as database:
        yield database.url


@pytest.fixture(scope="session")
def standin_server() -> Iterator[RunningStandin]:
    """One local Messages API for the whole run; tests script its behaviour through `standin`."""
    with start_standin_in_thread(StandinConfig(require_api_key=True)) as server:
        yield server


@pytest.fixture
async def standin(standin_server: RunningStandin) -> AsyncIterator[StandinControl]:
    control = StandinControl(standin_server.base_url)
    await control.reset()
    yield control
    await control.reset()


@pytest.fixture(scope="module")
def own_standin_server() -> Iterator[RunningStandin]:
    """A stand-in of the module's own, answering in 10 ms and taking any key: for the tests of the stand-in
    itself, whose scripted failures and counters must not meet the session's `standin_server`."""
    with start_standin_in_thread(StandinConfig(default=AgentBehaviour(latency_s=0.01))) as server:
        yield server


@pytest.fixture
async def own_standin(own_standin_server: RunningStandin) -> StandinControl:
    control = StandinControl(own_standin_server.base_url)
    await control.reset()
    return control


@pytest.fixture
async def sdk(own_standin: StandinControl) -> AsyncIterator[anthropic.AsyncAnthropic]:
    """`standin_sdk` on a freshly reset `own_standin`."""
    async with standin_sdk(own_standin.base_url) as client:
        yield client


@pytest.fixture(scope="module")
async def counting_proxy(database_url: str) -> AsyncIterator[CountingProxy]:
    """A proxy counting the statements between an app and PostgreSQL (`settings_through` points an app at it)."""
    async with CountingProxy(database_url) as running:
        yield running


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url)


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    async with running_app(settings) as application:
        yield application


@pytest.fixture(scope="module")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with asgi_client(app) as client:
        yield client


@pytest.fixture(scope="module")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture(scope="module")
def tenants(app: Starlette) -> TenantFactory:
    return TenantFactory(app.state.database)
