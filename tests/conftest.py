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

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url
from starlette.applications import Starlette

from dealgraph.agents.standin import RunningStandin, StandinConfig, start_standin_in_thread
from dealgraph.config import Settings
from dealgraph.db.embedded import start_embedded_postgres
from dealgraph.server.app import create_app
from tests.support import GraphQLClient, StandinControl, TenantFactory, make_settings


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    configured = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if configured:
        yield configured
        return
    with tempfile.TemporaryDirectory(prefix="dealgraph-test-pg-") as data_dir:
        yield start_embedded_postgres(Path(data_dir), database="postgres")


def _asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="module")
async def database_url(server_url: str) -> AsyncIterator[str]:
    name = f"dealgraph_test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(_asyncpg_dsn(server_url))
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
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url)


@pytest.fixture(scope="module")
async def app(settings: Settings) -> AsyncIterator[Starlette]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="module")
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dealgraph.test") as client:
        yield client


@pytest.fixture(scope="module")
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture(scope="module")
def tenants(app: Starlette) -> TenantFactory:
    return TenantFactory(app.state.database)
