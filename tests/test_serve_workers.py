"""`dealgraph serve --api-processes 2`: two API processes on one port, each serving GraphQL with the same data;
the stand-in and the worker pool in child processes that never outlive `serve`."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterable
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import AgentRun
from dealgraph.standin import RunningStandin
from harness.processes import children, descendants
from tests.analysis_support import analyse_through, kinds, transcript_for_analysis
from tests.processes import process_env, serving, without_a_key
from tests.support import (
    REFUSAL_DEADLINE_S,
    GraphQLClient,
    TenantFactory,
    make_settings,
    refused_within,
    server_client,
)

pytestmark = pytest.mark.processes

VIEWER = "{ viewer { role tenant { slug } } }"


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """The in-process app only seeds rows: with workers of its own it would claim the runs that the served
    processes must execute (and the tests check which process did)."""
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)


async def test_two_workers_serve_and_hear_revocations(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    env = process_env(database_url, standin_server.base_url, analysis_slots="0")
    with serving(env, "--api-processes", "2") as (base_url, process):
        assert len(children(process.popen.pid)) >= 2, process.output()
        async with server_client(base_url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post("/graphql", json={"query": VIEWER}, headers=who.headers) for _ in range(20))
            )
            assert {a.status_code for a in answers} == {200}
            assert {a.json()["data"]["viewer"]["role"] for a in answers} == {"ADMIN"}
            await tenants.revoke(who)  # every process's principal cache drops the key
            await refused_within(client, who, REFUSAL_DEADLINE_S)
            for _ in range(10):
                assert (await client.post("/graphql", json={"query": VIEWER}, headers=who.headers)).status_code == 401


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for an init that does not reap (as in some containers)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


async def descendants_including(pid: int, command_end: str, timeout_s: float = 20) -> dict[int, str]:
    """The processes below `pid` once one of them has a command line ending in `command_end`."""
    deadline = time.monotonic() + timeout_s
    while True:
        below = descendants(pid)
        if any(command.endswith(command_end) for command in below.values()):
            return below
        assert time.monotonic() < deadline, below
        await asyncio.sleep(0.1)


async def wait_until_gone(pids: Iterable[int], timeout_s: float = 20) -> set[int]:
    deadline = time.monotonic() + timeout_s
    while (left := {pid for pid in pids if alive(pid)}) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    return left


async def test_serve_runs_the_stand_in_in_a_child_that_stops_with_it(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    with serving(without_a_key(database_url)) as (base_url, process):
        below = descendants(process.popen.pid)
        [standin] = [pid for pid, command in below.items() if "dealgraph.standin" in command]
        assert standin != process.popen.pid
        events = await analyse_through(base_url, who, ids["transcript"])
        assert kinds(events)[-1] == ("AnalysisFinished", None), process.output()
        assert events[-1]["analysisEvents"]["status"] == "SUCCEEDED", events
        succeeded = [e["analysisEvents"] for e in events if e["analysisEvents"]["__typename"] == "AgentSucceeded"]
        assert [e["run"]["metadata"]["simulated"] for e in succeeded] == [True, True]
        process.popen.send_signal(signal.SIGTERM)
        process.popen.wait(30)
    assert not await wait_until_gone(below), "children left behind after SIGTERM"


async def test_workers_run_api_pool_and_stand_in_apart_and_none_outlives_a_killed_serve(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    env = without_a_key(database_url, analysis_slots="4")
    with serving(env, "--api-processes", "2") as (base_url, process):
        below = await descendants_including(process.popen.pid, "dealgraph.cli analysis-pool ")  # once it answers
        [standin] = [pid for pid, command in below.items() if "dealgraph.standin" in command]
        [pool] = [pid for pid, command in below.items() if command.endswith("dealgraph.cli analysis-pool ")]
        assert len([command for command in below.values() if "multiprocessing.spawn" in command]) == 2, below
        assert process.popen.pid not in (standin, pool)
        events = await analyse_through(base_url, who, ids["transcript"])
        assert kinds(events)[-1] == ("AnalysisFinished", None), process.output()
        assert events[-1]["analysisEvents"]["status"] == "SUCCEEDED", events
        async with app.state.database.owner_session() as session:
            mine = select(AgentRun.worker_id).where(AgentRun.tenant_id == who.tenant_id).distinct()
            workers = (await session.scalars(mine)).all()
        assert {worker.split(":")[1] for worker in workers} == {str(pool)}  # only the pool process executed runs
        process.kill()  # SIGKILL: serve gets no chance to stop its children
    assert not await wait_until_gone(below), f"orphans of a killed serve: {below}"
