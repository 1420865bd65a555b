"""Run events over Redis pub/sub instead of PostgreSQL NOTIFY (DEALGRAPH_EVENT_TRANSPORT=redis).

An `EventTransport` (event_transport.py).

Why: every NOTIFY-ing commit takes PostgreSQL's cluster-wide notify lock, and every process needs a
LISTEN connection to the primary. With Redis the database only commits; events are published after
the commit (never for a change that rolled back), in commit order, by one sender per process, and
every process subscribes to Redis instead of LISTENing. What stays on PostgreSQL: the state itself
and the "runs queued" wake-up of the analysis pools (a lost wake-up only waits for the poll). A subscriber that
may have missed events (Redis connection lost) is resynced from the database, as with NOTIFY.

The channel is named after the database, so deployments (or test databases) sharing one Redis never
hear each other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from contextlib import suppress
from typing import Final

import redis.asyncio as redis
from redis.exceptions import RedisError
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

_PENDING: Final = "dealgraph_redis_events"
_RECONNECT_DELAY_S = 0.5


class RedisEvents:
    """The Redis `EventTransport`."""

    def __init__(self, redis_url: str, database_url: str) -> None:
        self.channel = f"dealgraph_events:{make_url(database_url).database}"
        self._client = redis.Redis.from_url(redis_url, client_name=self.channel)  # named: CLIENT LIST shows whose
        self._outbox: asyncio.Queue[list[str]] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self, deliver: Callable[[str], None], lost: Callable[[], None]) -> None:
        """Publish what commits hand over, and hand every event heard to `deliver`."""
        await self._client.ping()  # a wrong URL fails `serve` at start-up, not at the first event
        pubsub = self._client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(self.channel)
        self._tasks = [
            asyncio.create_task(self._send(), name="redis-events-sender"),
            asyncio.create_task(self._listen(pubsub, deliver, lost), name="redis-events-listener"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError):
                await task
        await self._client.aclose()

    def publish_after_commit(self, session: Session, payloads: Iterable[str]) -> None:
        """Queue the events with the transaction: they leave when it commits, and never if it rolls back."""
        pending: list[str] = session.info.setdefault(_PENDING, [])
        if not pending:
            session.info["dealgraph_redis_sink"] = self
        pending.extend(payloads)

    def publish_committed(self, payloads: list[str]) -> None:
        self._outbox.put_nowait(payloads)

    async def _send(self) -> None:
        while True:
            batch = await self._outbox.get()
            while not self._outbox.empty():  # whatever else committed meanwhile goes in the same round trip
                batch.extend(self._outbox.get_nowait())
            while True:
                try:
                    async with self._client.pipeline(transaction=False) as pipe:
                        for payload in batch:
                            pipe.publish(self.channel, payload)
                        await pipe.execute()
                    break
                except (RedisError, OSError):
                    log.warning("publishing %d run events to Redis failed; retrying", len(batch))
                    await asyncio.sleep(_RECONNECT_DELAY_S)

    async def _listen(
        self, pubsub: redis.client.PubSub, deliver: Callable[[str], None], lost: Callable[[], None]
    ) -> None:
        while True:
            try:
                async for message in pubsub.listen():
                    if message["type"] == "message":
                        deliver(message["data"].decode())
            except (RedisError, OSError):
                log.warning("Redis event subscription lost; reconnecting")
            while True:
                try:
                    await pubsub.aclose()
                    pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                    await pubsub.subscribe(self.channel)
                    break
                except (RedisError, OSError):
                    await asyncio.sleep(_RECONNECT_DELAY_S)
            lost()  # whatever was published meanwhile is re-read from the database


@event.listens_for(Session, "after_commit")
def _hand_over_on_commit(session: Session) -> None:
    payloads = session.info.pop(_PENDING, None)
    sink = session.info.pop("dealgraph_redis_sink", None)
    if payloads and sink is not None:
        sink.publish_committed(payloads)


@event.listens_for(Session, "after_soft_rollback")
def _drop_on_rollback(session: Session, _previous: object) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop("dealgraph_redis_sink", None)
