"""This process's authenticated WebSockets by API key, so that revoking a key closes them at once.

A WebSocket authenticates once, in `connection_init`, and may then live for hours. Every process
hears of a revoked (or deleted) key through the `dealgraph_keys_revoked` notification and closes the
sockets it holds for that key. After the listener lost its connection a notification may have been
missed, so the keys of all held sockets are then re-checked, in one query.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any, Protocol

from dealgraph.db.repositories.tenancy import live_api_key_ids
from dealgraph.db.session import Database
from dealgraph.fanout.hub import RESYNC, Event

log = logging.getLogger(__name__)


class RevocableSocket(Protocol):
    async def revoke(self) -> None:
        """Close the socket (4403) and end its operations."""


class LiveSockets:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._by_key: defaultdict[uuid.UUID, set[RevocableSocket]] = defaultdict(set)
        self._held = 0
        self._tasks: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        """Sockets held (a socket that closed must not be: it would keep its handler and state alive).

        Counted, not summed over keys: the recycler asks on every socket's arrival and departure."""
        return self._held

    def add(self, api_key_id: uuid.UUID, socket: RevocableSocket) -> None:
        sockets = self._by_key[api_key_id]
        if socket not in sockets:
            sockets.add(socket)
            self._held += 1

    def discard(self, api_key_id: uuid.UUID, socket: RevocableSocket) -> None:
        sockets = self._by_key.get(api_key_id)
        if sockets is not None and socket in sockets:
            sockets.remove(socket)
            self._held -= 1
            if not sockets:
                del self._by_key[api_key_id]

    def keys_revoked(self, event: Event) -> None:
        """Notification hub callback (runs in the event loop, must not block): close or re-check sockets."""
        if event is RESYNC:
            self._spawn(self._recheck_all())
        else:
            self._revoke(uuid.UUID(event["apiKey"]))

    def _revoke(self, api_key_id: uuid.UUID) -> None:
        for socket in list(self._by_key.get(api_key_id, ())):
            self._spawn(socket.revoke())

    async def _recheck_all(self) -> None:
        held = set(self._by_key)
        if not held:
            return
        async with self.database.owner_session() as session:
            live = await live_api_key_ids(session, held)
        for api_key_id in held - live:
            self._revoke(api_key_id)

    def _spawn(self, action: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(action)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.error("closing the WebSockets of a revoked key failed", exc_info=error)
