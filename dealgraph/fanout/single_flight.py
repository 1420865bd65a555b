"""One read per event per process, however many subscribers the event reaches.

Every subscriber of an analysis hears the same notification at the same moment; if each re-read the
row it names, one result pushed to M subscribers would cost M transactions (and exhaust the pool long
before M reaches a thousand). The first subscriber to ask for a key starts the read; every other one
awaits that same read and gets the same (read-only) value. Recent values stay in a bounded LRU, so a
subscriber that is a little behind still hits the cache instead of the database.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

_DEFAULT_CAPACITY = 512
"""Values kept after their read: enough for subscribers a burst behind; a miss only costs another read."""


class SingleFlight:
    def __init__(self, capacity: int = _DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._flights: OrderedDict[Hashable, asyncio.Future[Any]] = OrderedDict()
        self.reads = 0
        """Reads actually started (the rest were shared): what the fan-out tests count."""

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        """The value of `key`, read once by `read` for every caller that asks while it is cached."""
        flight = self._flights.get(key)
        if flight is None:
            self.reads += 1
            flight = asyncio.ensure_future(read())
            flight.add_done_callback(lambda done: self._forget_failure(key, done))
            self._flights[key] = flight
            while len(self._flights) > self._capacity:
                self._flights.popitem(last=False)
        else:
            self._flights.move_to_end(key)
        # shield: one subscriber leaving (cancelled) must not cancel the read the others are waiting for
        return await asyncio.shield(flight)

    def _forget_failure(self, key: Hashable, flight: asyncio.Future[Any]) -> None:
        """A failed read is not cached: the next caller tries again."""
        if (flight.cancelled() or flight.exception() is not None) and self._flights.get(key) is flight:
            del self._flights[key]


class CoalescedReads:
    """One read for every caller that asks before it has begun: what a late subscriber's snapshot needs.

    A snapshot must be read after its subscriber registered for live events, or an event committed in
    between is neither in the snapshot nor heard. So a caller may only share a read that has not begun
    yet: `read` gets a `begin` callback to call right before its first statement, after which new callers
    start the next read. While one read waits for a connection, everyone who asks joins it, so a thousand
    subscribers arriving together cost a handful of reads instead of a thousand transactions.
    """

    def __init__(self) -> None:
        self._joinable: dict[Hashable, asyncio.Future[Any]] = {}
        self.reads = 0
        """Reads actually started (the rest were shared): what the fan-out tests count."""

    async def get(self, key: Hashable, read: Callable[[Callable[[], None]], Awaitable[Any]]) -> Any:
        flight = self._joinable.get(key)
        if flight is None:
            self.reads += 1

            def begin() -> None:
                if self._joinable.get(key) is flight:
                    del self._joinable[key]

            flight = asyncio.ensure_future(read(begin))
            flight.add_done_callback(lambda _: begin())
            self._joinable[key] = flight
        # shield: one caller leaving (cancelled) must not cancel the read the others are waiting for
        return await asyncio.shield(flight)
