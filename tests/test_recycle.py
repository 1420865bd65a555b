"""An API process of `serve --api-processes N` that a burst of WebSockets has left restarts and gives their memory
back; a single-process `serve` never does."""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
import time
import uuid
from contextlib import AsyncExitStack
from multiprocessing.connection import Connection
from typing import Any, cast

import pytest
import uvicorn.supervisors.multiprocess as uvicorn_multiprocess
from httpx_ws import aconnect_ws
from starlette.applications import Starlette

from dealgraph.db.session import Database
from dealgraph.server.recycle import Recycler
from dealgraph.server.uvicorn_overrides import WatchedProcess
from dealgraph.server.ws_registry import LiveSockets
from dealgraph.standin import RunningStandin
from harness.processes import descendants
from tests.processes import process_env, serving
from tests.support import TenantFactory, server_client

pytestmark = pytest.mark.processes

MB = 1024 * 1024


class Restarts:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self) -> None:
        self.count += 1


def recycler(rss: list[int], restarts: Restarts) -> Recycler:
    return Recycler(after_sockets=3, growth_mb=10, restart=restarts, measure=lambda: rss[0])


def test_restarts_once_the_last_socket_of_a_large_burst_left_and_the_process_grew() -> None:
    rss, restarts = [100 * MB], Restarts()
    recycled = recycler(rss, restarts)
    for live in range(1, 4):
        recycled.socket_joined(live)
    rss[0] = 150 * MB
    for live in (2, 1):
        recycled.socket_left(live)
    assert restarts.count == 0  # sockets are still open: nothing may be interrupted
    recycled.socket_left(0)
    assert restarts.count == 1 and recycled.restarting
    recycled.socket_joined(1)
    recycled.socket_left(0)
    assert restarts.count == 1  # once


def test_no_restart_for_a_small_burst_or_a_process_that_did_not_grow() -> None:
    rss, restarts = [100 * MB], Restarts()
    recycled = recycler(rss, restarts)
    recycled.socket_joined(1)
    recycled.socket_joined(2)
    rss[0] = 500 * MB
    recycled.socket_left(1)
    recycled.socket_left(0)
    assert restarts.count == 0  # two sockets are not the burst it waits for
    rss[0] = 100 * MB
    for live in range(1, 4):
        recycled.socket_joined(live)
    rss[0] = 105 * MB
    for live in (2, 1, 0):
        recycled.socket_left(live)
    assert restarts.count == 0  # the memory came back by itself: nothing to gain


class DeadProcess:
    def is_alive(self) -> bool:
        return False


def watched_worker(process: object) -> tuple[WatchedProcess, Connection]:
    """The supervisor's handle of `process`, and the worker's end of the pipe (kept open, as the supervisor does)."""
    watched = WatchedProcess.__new__(WatchedProcess)
    watched.parent_conn, worker_end = multiprocessing.Pipe()
    watched.process = cast(Any, process)
    return watched, worker_end


def test_the_supervisor_sees_a_worker_that_died_with_a_ping_pending() -> None:
    """uvicorn's own check waits its whole timeout (60 s here) for an answer a dead worker never sends."""
    assert "_healthcheck" in vars(uvicorn_multiprocess.Process)  # what `ping` and `is_ready` call: the hook
    watched, worker_end = watched_worker(DeadProcess())
    started = time.monotonic()
    assert watched._healthcheck(timeout=60) is None
    assert time.monotonic() - started < 5
    worker_end.close()


def test_the_supervisor_still_gets_a_live_workers_answer() -> None:
    watched, worker_end = watched_worker(multiprocessing.current_process())  # alive

    def answer() -> None:
        worker_end.recv()
        time.sleep(0.3)  # longer than one slice of the wait
        worker_end.send(True)

    answering = threading.Thread(target=answer)
    answering.start()
    assert watched._healthcheck(timeout=10) is True
    answering.join()


def test_a_single_process_app_has_no_recycler(app: Starlette) -> None:
    assert app.state.graphql.recycler is None  # nothing would start it again


def api_workers(serve_pid: int) -> set[int]:
    return {pid for pid, command in descendants(serve_pid).items() if "multiprocessing.spawn" in command}


async def test_an_emptied_worker_is_replaced_and_the_server_keeps_serving(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    env = process_env(
        database_url, standin_server.base_url, analysis_slots="0", recycle_after_sockets="2", recycle_growth_mb="0"
    )
    with serving(env, "--api-processes", "2") as (base_url, process):
        before = api_workers(process.popen.pid)
        assert len(before) == 2, process.output()
        async with server_client(base_url, timeout=30) as client:
            async with AsyncExitStack() as sockets:  # 8 sockets over 2 processes: one holds at least 4
                for _ in range(8):
                    ws = await sockets.enter_async_context(
                        aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"])
                    )
                    await ws.send_json(
                        {"type": "connection_init", "payload": {"authorization": who.headers["Authorization"]}}
                    )
                    assert (await ws.receive_json())["type"] == "connection_ack"
                assert api_workers(process.popen.pid) == before
            deadline = time.monotonic() + 60
            while not (api_workers(process.popen.pid) - before) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert api_workers(process.popen.pid) - before, f"no worker was replaced\n{process.output()}"
            assert "restarting this API process" in process.output()
            for _ in range(10):  # served throughout, by the remaining and the new process
                answer = await client.post("/graphql", json={"query": "{ viewer { role } }"}, headers=who.headers)
                assert answer.status_code == 200 and answer.json()["data"]["viewer"]["role"] == "ADMIN"


class Socket:
    async def revoke(self) -> None:
        """Not called here."""


def test_the_live_socket_count_the_recycler_reads_stays_exact() -> None:
    """`len(LiveSockets)` is kept as a count (read on every arrival and departure), so it must never drift."""
    live = LiveSockets(cast(Database, None))  # no revocation is checked here, so no database is touched
    key, other_key = uuid.uuid4(), uuid.uuid4()
    first, second, third = Socket(), Socket(), Socket()
    live.add(key, first)
    live.add(key, first)  # the same socket twice is held once
    live.add(key, second)
    live.add(other_key, third)
    assert len(live) == 3
    live.discard(other_key, first)  # not held under that key: nothing changes
    live.discard(key, first)
    live.discard(key, first)
    assert len(live) == 2
    live.discard(key, second)
    live.discard(other_key, third)
    assert len(live) == 0
