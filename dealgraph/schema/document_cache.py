"""Caches of what the server derives from a GraphQL document's text, bounded by bytes rather than entries.

A count of entries bounds nothing when an entry may be a document of any size: 60 distinct 3.9 MB
documents once took a process from 1 GB to nearly 2 GB, in caches of 256 entries that never let go.
So each cache has a budget in bytes, and a document longer than `CACHEABLE_CHARS` (far longer than
any document a client sends often) is never kept: it is parsed and checked again each time it comes.
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

CACHEABLE_CHARS = 16 * 1024
"""Longest document text kept by any cache; the largest document of the test suite is 305 characters."""

PARSED_BYTES_PER_CHAR = 128
"""What a parsed document holds per character of its text, measured: 1.2 MB for a dense 10,000-character one."""


def text_bytes(text: str) -> int:
    """The memory a text holds (one to four bytes a character, plus the object)."""
    return sys.getsizeof(text)


def cacheable(text: str) -> bool:
    return len(text) <= CACHEABLE_CHARS


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SizedLru(Generic[K, V]):
    """A least-recently-used cache whose entries' weights (bytes, as the caller counts them) add up to at most
    `max_bytes`. Callers keep only what is `cacheable`."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self.hits = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        return entry[0]

    def put(self, key: K, value: V, weight: int) -> None:
        self.pop(key)
        self._entries[key] = (value, weight)
        self.bytes += weight
        while self.bytes > self.max_bytes:
            self.pop(next(iter(self._entries)))

    def pop(self, key: K) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.bytes -= entry[1]

    def oldest(self) -> K:
        return next(iter(self._entries))
