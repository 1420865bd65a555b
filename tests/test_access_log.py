"""`dealgraph serve` writes no line per request unless DEALGRAPH_ACCESS_LOG is on (it costs the hot path)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dealgraph.standin import RunningStandin
from harness.processes import DealgraphProcess
from tests.processes import process_env, servings
from tests.support import server_client

pytestmark = pytest.mark.processes

ACCESS_LINE = '"POST /graphql HTTP/1.1" 401'


@pytest.fixture(scope="module")
def quiet_and_logging(
    database_url: str, standin_server: RunningStandin
) -> Iterator[list[tuple[str, DealgraphProcess]]]:
    """A server with the default settings and one with the access log on, started side by side."""
    env = process_env(database_url, standin_server.base_url, analysis_slots="0")
    with servings(env, env | {"DEALGRAPH_ACCESS_LOG": "true"}) as both:
        yield both


async def served_output(base_url: str, process: DealgraphProcess) -> str:
    """What the server logged by the time one refused GraphQL request was answered.

    uvicorn logs the access line when the response starts, before the client can have it."""
    async with server_client(base_url, timeout=30) as client:
        assert (await client.post("/graphql", json={"query": "{ viewer { role } }"})).status_code == 401
    return process.output()


async def test_no_access_log_by_default(quiet_and_logging: list[tuple[str, DealgraphProcess]]) -> None:
    output = await served_output(*quiet_and_logging[0])
    assert "dealgraph ready" in output and ACCESS_LINE not in output


async def test_access_log_when_asked(quiet_and_logging: list[tuple[str, DealgraphProcess]]) -> None:
    assert ACCESS_LINE in await served_output(*quiet_and_logging[1])
