"""Subscribers that leave leave nothing behind: no registry entry, topic index, task or handler per connection.

Memory that does not return to baseline after 10,000 subscribers left (bench/idle_subscribers.py) would
show here first, as something still held for a socket or an operation that is gone.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from contextlib import AsyncExitStack

from starlette.applications import Starlette

from dealgraph.server.ws_handler import DealgraphTransportWSHandler
from tests.analysis_support import ANALYSIS_EVENTS, DEAL_EVENTS, start, transcript_for_analysis, wait_for_runs
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle, subscribe, websocket

SOCKETS = 40
AGENT = "action_items"
_CONNECTING = asyncio.Semaphore(10)
"""One client address may hold only so many sockets before `connection_init` (DEALGRAPH_WS_MAX_PENDING_PER_ADDRESS)."""


_SOCKET_CODE = ("/strawberry/", "/httpx_ws/", "/dealgraph/server/ws_", "/dealgraph/schema/", "/dealgraph/services/")
"""Where the tasks of a WebSocket and its operations come from. The process's own tasks (claim loop, progress
publisher, the transient task `asyncio.wait_for` makes in the claim loop) come and go with the analysis, not
with sockets, so counting all tasks would be a race."""


def socket_tasks() -> list[str]:
    """Tasks run for a WebSocket or one of its operations, by their outermost coroutine's source."""
    found = []
    for task in asyncio.all_tasks():
        frames = task.get_stack(limit=1)
        if frames and any(part in frames[0].f_code.co_filename for part in _SOCKET_CODE):
            found.append(f"{task.get_name()} {frames[0].f_code.co_qualname}")
    return found


def handlers_alive() -> int:
    gc.collect()
    return sum(isinstance(thing, DealgraphTransportWSHandler) for thing in gc.get_objects())


async def _subscriber(
    app: Starlette,
    who: TenantHandle,
    ids: dict[str, str],
    number: int,
    ready: asyncio.Queue[None],
    leave: asyncio.Event,
) -> None:
    """Two subscriptions on the analysis and one on its deal; every other socket completes one itself; then
    the socket goes away with the others still open, as a client that closes its tab does."""
    async with AsyncExitStack() as connection:
        async with _CONNECTING:
            ws = await connection.enter_async_context(websocket(app, who.api_key))
        operations = [await subscribe(ws, ANALYSIS_EVENTS, {"id": ids["analysis"]}) for _ in range(2)]
        operations.append(await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]}))
        for operation in operations:  # its snapshot: registered and live
            assert await operation.next(timeout=60) is not None
        if number % 2:
            await ws.send_json({"id": operations[-1].id, "type": "complete"})
        ready.put_nowait(None)
        await leave.wait()


async def test_many_subscriptions_opened_and_closed_leave_the_registries_empty(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    hub, view = app.state.hub, app.state.graphql
    await standin.behave(AGENT, held=True)  # the analysis stays live while the subscribers come and go
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    ids["analysis"] = (await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"]))["id"]
    # its run's own tasks are up before the tasks are counted
    await wait_for_runs(gql, who, ids["analysis"], {"ACTION_ITEMS": "RUNNING"}, timeout=20)
    subscribers_before = hub.subscriber_count
    process_wide = set(hub._untopical)  # noqa: SLF001 - the process's own (cancellation) subscription

    ready, leave = asyncio.Queue[None](), asyncio.Event()
    sockets = [asyncio.create_task(_subscriber(app, who, ids, n, ready, leave)) for n in range(SOCKETS)]
    try:
        for _ in range(SOCKETS):
            await asyncio.wait_for(ready.get(), 60)
        expected = subscribers_before + SOCKETS * 3 - SOCKETS // 2
        await _until(
            lambda: hub.subscriber_count == expected, lambda: f"{hub.subscriber_count} subscribers, not {expected}"
        )
        assert len(view.live_sockets) == SOCKETS
        assert socket_tasks()  # the check below sees the tasks a socket runs
        leave.set()
        await asyncio.wait_for(asyncio.gather(*sockets), 60)
    finally:  # a failure above must not leave sockets running into the next test
        for socket in sockets:
            socket.cancel()
        await asyncio.gather(*sockets, return_exceptions=True)

    await _until(
        lambda: hub.subscriber_count == subscribers_before and not socket_tasks(),
        lambda: f"subscribers {hub.subscriber_count} (before {subscribers_before}), socket tasks {socket_tasks()}",
    )
    assert hub._by_topic == {} and not hub._topic_fields and hub._untopical == process_wide  # noqa: SLF001
    assert len(view.live_sockets) == 0 and len(view.pending_sockets) == 0
    assert handlers_alive() == 0
    await standin.release(AGENT)


async def _until(condition: Callable[[], bool], state: Callable[[], str] = str, timeout_s: float = 60) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, state()
        await asyncio.sleep(0.05)


async def test_an_operation_the_client_completes_leaves_the_hub_without_the_garbage_collector(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    """`complete` closes the whole generator chain at once: with the collector off, a registration that
    waited for it to finalise a suspended generator would stay for ever."""
    hub = app.state.hub
    await standin.behave(AGENT, held=True)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = (await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"]))["id"]
    before = hub.subscriber_count
    async with websocket(app, who.api_key) as ws:
        operations = [
            await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis}),
            await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]}),
        ]
        for operation in operations:
            assert await operation.next(timeout=60) is not None
        assert hub.subscriber_count == before + 2
        gc.disable()
        try:
            for operation in operations:
                await ws.send_json({"id": operation.id, "type": "complete"})
            await _until(lambda: hub.subscriber_count == before, lambda: f"{hub.subscriber_count} left", timeout_s=10)
        finally:
            gc.enable()
    await standin.release(AGENT)
