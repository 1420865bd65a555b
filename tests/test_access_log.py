"""`dealgraph serve` writes no line per request unless DEALGRAPH_ACCESS_LOG is on (it costs the hot path)."""

from __future__ import annotations

import httpx

from dealgraph.standin import RunningStandin
from tests.processes import process_env, serving

ACCESS_LINE = '"POST /graphql HTTP/1.1" 401'


async def served_output(database_url: str, standin_url: str, **settings: str) -> str:
    """What the server logged by the time one refused GraphQL request was answered.

    uvicorn logs the access line when the response starts, before the client can have it."""
    with serving(process_env(database_url, standin_url, analysis_slots="0", **settings)) as (base_url, process):
        async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
            assert (await client.post("/graphql", json={"query": "{ viewer { role } }"})).status_code == 401
        return process.output()


async def test_no_access_log_by_default(database_url: str, standin_server: RunningStandin) -> None:
    output = await served_output(database_url, standin_server.base_url)
    assert "dealgraph ready" in output and ACCESS_LINE not in output


async def test_access_log_when_asked(database_url: str, standin_server: RunningStandin) -> None:
    assert ACCESS_LINE in await served_output(database_url, standin_server.base_url, access_log="true")
