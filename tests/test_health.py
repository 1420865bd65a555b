"""/healthz and /readyz: 200 while the database answers, 503 with a reason while it does not."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from dealgraph.server.app import create_app
from dealgraph.standin import RunningStandin
from tests.support import asgi_client, database_outage, make_settings, wait_for


async def test_healthy_and_ready(http: httpx.AsyncClient) -> None:
    for path in ("/healthz", "/readyz"):
        response = await http.get(path)
        assert (response.status_code, response.json()) == (200, {"status": "ok"}), path


async def test_unreachable_database(standin_server: RunningStandin) -> None:
    """An app pointed at a port where nothing listens (its start-up never ran)."""
    app = create_app(make_settings("postgresql://postgres@127.0.0.1:1/nowhere", standin_server.base_url))
    async with asgi_client(app) as client:
        health, ready = await client.get("/healthz"), await client.get("/readyz")
    assert health.status_code == 503 and health.json()["reason"].startswith("database unreachable")
    assert ready.status_code == 503 and ready.json() == {
        "status": "unavailable",
        "reason": "not started, or shutting down",
    }
    await app.state.database.dispose()


async def test_database_going_away_and_coming_back(
    app: Starlette, http: httpx.AsyncClient, server_url: str, database_url: str
) -> None:
    async with database_outage(server_url, database_url):
        for path in ("/healthz", "/readyz"):
            response = await http.get(path)
            assert response.status_code == 503, (path, response.text)
            assert response.json()["reason"].startswith("database unreachable"), response.json()

    async def healthy() -> bool:
        return (await http.get("/healthz")).status_code == 200

    await wait_for(healthy)  # the pool reconnects on the next checkout
    assert (await http.get("/readyz")).status_code == 200
