"""Test harness: real PostgreSQL, a fresh database per test module, requests through the ASGI app.

Uses TEST_DATABASE_URL / DATABASE_URL when set (e.g. the server on 127.0.0.1:5432), else starts the
embedded PostgreSQL in a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anthropic
import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from bench.pg_statements import CountingProxy
from dealgraph.config import Settings
from dealgraph.db.embedded import start_embedded_postgres
from dealgraph.standin import AgentBehaviour, RunningStandin, StandinConfig, start_standin_in_thread
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    asgi_client,
    asyncpg_dsn,
    make_settings,
    running_app,
)


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="dealgraph-test-pg-") as data_dir:
        yield start_embedded_postgres(Path(data_dir), database="postgres")


@pytest.fixture(scope="module")
async def database_url(server_url: str) -> AsyncIterator[str]:
    name = f"dealgraph_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(asyncpg_dsn(server_url))
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


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
    """The real, unpatched `anthropic` SDK on a freshly reset `own_standin`, without retries: a test sees
    the stand-in's first answer unless it asks for more."""
    async with anthropic.AsyncAnthropic(base_url=own_standin.base_url, api_key="test-key", max_retries=0) as client:
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
