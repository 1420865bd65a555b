"""Verified API keys → principals, kept briefly per process so most HTTP requests skip the database.

Authentication was one transaction per request. A principal found here is at most `ttl_s` old, and
a revoked (or deleted) key leaves the cache as soon as this process hears of it: the
`dealgraph_keys_revoked` notification drops that key, and a reconnect of the listener (when
notifications may have been lost) drops everything. The cache only stores while it listens.

A lookup that raced a revocation must not store its (now stale) principal: every invalidation
bumps a generation, and a principal read from the database is stored only if none happened since
the read began. Only valid keys are stored (refusing unknown keys stays a database question), and
the map is bounded. Role changes apply within `ttl_s` (they send no notification).
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from dealgraph.db.repositories.tenancy import Principal
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub

MAX_ENTRIES = 10_000


class PrincipalCache:
    def __init__(self, ttl_s: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.listening = False
        self._entries: OrderedDict[str, tuple[Principal, float]] = OrderedDict()
        self._generation = 0

    async def principal(self, key_hash: str, verify: Callable[[], Awaitable[Principal | None]]) -> Principal | None:
        """The cached principal of `key_hash`, else what `verify` (the database) says, then cached."""
        now = time.monotonic()
        cached = self._entries.get(key_hash)
        if cached is not None and cached[1] > now:
            return cached[0]
        generation = self._generation
        principal = await verify()
        if principal is not None and self.listening and self.ttl_s > 0 and generation == self._generation:
            self._entries[key_hash] = (principal, now + self.ttl_s)
            self._entries.move_to_end(key_hash)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        else:
            self._entries.pop(key_hash, None)
        return principal

    def listen_to(self, hub: NotificationHub) -> None:
        """Start storing principals, now that revocations reach this process."""
        hub.on_keys_revoked(self._keys_revoked)
        self.listening = True

    def _keys_revoked(self, event: Event) -> None:
        """Notification hub callback: forget the revoked key, or everything after a reconnect."""
        self._generation += 1
        if event is RESYNC:
            self._entries.clear()
            return
        revoked = uuid.UUID(event["apiKey"])
        for key_hash, (principal, _) in list(self._entries.items()):
            if principal.api_key_id == revoked:
                del self._entries[key_hash]
