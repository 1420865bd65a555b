"""A cap on unauthenticated WebSockets per client address.

Until `connection_init` arrives a socket costs memory and a timer but proves nothing about its
client, so one address opening thousands of them must not be able to hold them all. Behind a
reverse proxy the address is the proxy's unless uvicorn is told to trust its forwarded headers.
"""

from __future__ import annotations

from collections import Counter


class PendingSockets:
    """Counts, per client address, the sockets that have not sent `connection_init` yet."""

    def __init__(self, limit_per_address: int) -> None:
        self.limit_per_address = limit_per_address
        self._counts: Counter[str] = Counter()

    def __len__(self) -> int:
        """Sockets pending over all addresses."""
        return sum(self._counts.values())

    def admit(self, address: str) -> bool:
        """Count one more pending socket of `address`, unless it already holds the limit."""
        if self._counts[address] >= self.limit_per_address:
            return False
        self._counts[address] += 1
        return True

    def release(self, address: str) -> None:
        self._counts[address] -= 1
        if self._counts[address] <= 0:
            del self._counts[address]
