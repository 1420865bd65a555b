"""PostgreSQL LISTEN/NOTIFY fan-out: how every process learns what any process did.

Each process keeps one dedicated asyncpg connection listening on three channels: run events (state
changes and progress of agent runs, consumed by GraphQL subscriptions and by the analysis pools for
cancellation), "runs queued" (wakes the analysis pools at once instead of waiting for their poll) and "keys
revoked" (sent by a trigger; closes the WebSockets of a revoked or deleted API key).
Notifications sent while the listener was disconnected are lost by PostgreSQL, and a subscriber
that cannot keep up would lose them too; in both cases its queue receives RESYNC, and it re-reads
the database. Nothing is lost, only re-read. Key-revocation listeners get RESYNC after a reconnect
too, and re-check every key they hold.

Fan-out cost per event is independent of how many subscribers the process holds: subscriptions that
name a topic (an analysis, a deal) are indexed by it, so an event reaches only the subscriptions of
its analysis and deal, and rows an event refers to are read once per process (`shared_reads`) for
all of them. Each subscriber's queue is bounded: one that falls behind is resynced, not buffered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any, Final

import asyncpg
from sqlalchemy.engine import make_url

from dealgraph.fanout.single_flight import CoalescedReads, SingleFlight
from dealgraph.fanout.transport import EventTransport

log = logging.getLogger(__name__)

EVENTS_CHANNEL: Final = "dealgraph_events"
RUNS_QUEUED_CHANNEL: Final = "dealgraph_runs_queued"
KEYS_REVOKED_CHANNEL: Final = "dealgraph_keys_revoked"  # sent by the 0004 migration's trigger
RESYNC: Final = {"kind": "resync"}
_QUEUE_LIMIT = 256
"""Events a subscriber may have pending; beyond that it re-reads the database (RESYNC) instead."""
_RECONNECT_DELAY_S = 0.5
_UNREACHABLE = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, asyncpg.InternalClientError)
"""What reconnecting meets while the database is away: refused, or a session ended between connecting and LISTEN
("connection is closed", or "cannot switch to state N; another operation is in progress", as
`dealgraph.db.outage` explains; the fan-out sits below the database layer, so it names them here)."""

Event = dict[str, Any]
Topic = tuple[str, str]
"""(event field, value): the subscription only hears events whose field has that value."""


class Subscription:
    def __init__(self, accepts: Callable[[Event], bool], topic: Topic | None = None) -> None:
        self.accepts = accepts
        self.topic = topic
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=_QUEUE_LIMIT)

    def offer(self, event: Event) -> None:
        if not (event is RESYNC or self.accepts(event)):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:  # a slow consumer re-reads the database instead of losing events
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)


class NotificationHub:
    def __init__(self, database_url: str, events: EventTransport | None = None) -> None:
        self._events = events
        """A broker carries run events instead of this LISTEN connection (which then only wakes the analysis pools)."""
        self._dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._subscriptions: set[Subscription] = set()
        self._untopical: set[Subscription] = set()
        self._by_topic: dict[Topic, set[Subscription]] = {}
        self._topic_fields: Counter[str] = Counter()
        self.shared_reads = SingleFlight()
        self.snapshot_reads = CoalescedReads()
        self._queued_callbacks: list[Callable[[], None]] = []
        self._revoked_callbacks: list[Callable[[Event], None]] = []
        self._connection: asyncpg.Connection | None = None
        self._watchdog: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()

    async def start(self) -> None:
        await self._connect()
        self._watchdog = asyncio.create_task(self._reconnect_when_lost(), name="notification-hub")
        if self._events is not None:
            await self._events.start(self._dispatch, self._resync_all)

    async def stop(self) -> None:
        if self._events is not None:
            await self._events.stop()
        if self._watchdog:
            self._watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await self._watchdog
        if self._connection and not self._connection.is_closed():
            await self._connection.close()

    @asynccontextmanager
    async def subscribe(
        self, accepts: Callable[[Event], bool], topic: Topic | None = None
    ) -> AsyncIterator[Subscription]:
        subscription = Subscription(accepts, topic)
        self._add(subscription)
        try:
            yield subscription
        finally:
            self._remove(subscription)

    def _add(self, subscription: Subscription) -> None:
        self._subscriptions.add(subscription)
        if subscription.topic is None:
            self._untopical.add(subscription)
            return
        self._by_topic.setdefault(subscription.topic, set()).add(subscription)
        self._topic_fields[subscription.topic[0]] += 1

    def _remove(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)
        if subscription.topic is None:
            self._untopical.discard(subscription)
            return
        subscribers = self._by_topic.get(subscription.topic)
        if subscribers is not None and subscription in subscribers:
            subscribers.discard(subscription)
            if not subscribers:
                del self._by_topic[subscription.topic]
            self._topic_fields[subscription.topic[0]] -= 1
            if not self._topic_fields[subscription.topic[0]]:
                del self._topic_fields[subscription.topic[0]]

    def _recipients(self, event: Event) -> list[Subscription]:
        recipients = list(self._untopical)
        for field in self._topic_fields:
            if (value := event.get(field)) is not None:
                recipients.extend(self._by_topic.get((field, str(value)), ()))
        return recipients

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def on_runs_queued(self, callback: Callable[[], None]) -> None:
        self._queued_callbacks.append(callback)

    def on_keys_revoked(self, callback: Callable[[Event], None]) -> None:
        """`callback` gets `{"apiKey", "user", "tenant"}` of each revoked key, or RESYNC after a reconnect."""
        self._revoked_callbacks.append(callback)

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self._dsn)
        try:
            if self._events is None:
                await connection.add_listener(EVENTS_CHANNEL, self._on_event)
            await connection.add_listener(RUNS_QUEUED_CHANNEL, self._on_runs_queued)
            await connection.add_listener(KEYS_REVOKED_CHANNEL, self._on_keys_revoked)
        except BaseException:  # e.g. the session ended between connecting and LISTEN
            connection.terminate()
            raise
        connection.add_termination_listener(lambda _: self._lost.set())
        self._connection = connection
        self._lost.clear()

    def _on_event(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._dispatch(payload)

    def _dispatch(self, payload: str) -> None:
        event = json.loads(payload)
        for subscription in self._recipients(event):
            subscription.offer(event)

    def _on_runs_queued(self, *_: object) -> None:
        for callback in self._queued_callbacks:
            callback()

    def _on_keys_revoked(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._announce_revoked(json.loads(payload))

    def _announce_revoked(self, event: Event) -> None:
        for callback in self._revoked_callbacks:
            callback(event)

    async def _reconnect_when_lost(self) -> None:
        while True:
            await self._lost.wait()
            log.warning("notification listener lost its connection; reconnecting")
            while True:
                try:
                    await self._connect()
                    break
                except _UNREACHABLE:
                    await asyncio.sleep(_RECONNECT_DELAY_S)
            if self._events is None:
                self._resync_all()
            self._on_runs_queued()
            self._announce_revoked(RESYNC)

    def _resync_all(self) -> None:
        for subscription in list(self._subscriptions):
            subscription.offer(RESYNC)
