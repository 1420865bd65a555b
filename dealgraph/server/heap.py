"""Keep Python's cyclic garbage collector off the request path's bill.

Measured under the read benchmark (py-spy and `gc.callbacks`), the collector took about half of the
server's CPU for the deal-graph query: a full collection walks every tracked object, and after
start-up there are about 300,000 of them (the schema, SQLAlchemy's mappers and compiled-statement
cache, pydantic models, ...) that will never be garbage. Each full collection cost hundreds of
milliseconds on a loaded machine, the main source of the p99 tail.

Start-up imports with the youngest generation collected rarely (`importing`): they create about a million
objects that live as long as the process, and collecting them as they were made took a fifth of an API
process's start-up (0.45 s of 2.5 s of CPU) while finding nothing.

`settle_heap()` is called once start-up is done: it collects what start-up left behind and moves
everything that survived into the permanent generation (`gc.freeze()`), so later collections only
walk objects created while serving. The request path itself avoids reference cycles where it
creates many objects (DataLoaders, the operation's loaders), so rows are freed by reference
counting at the end of a request instead of waiting for the collector.

Full collections on a schedule, not on allocation counts: CPython starts a full collection whenever
the objects that survived into the oldest generation grew by a quarter. While 1,000 WebSocket subscribers
connect, that is one full collection a second, each walking every subscriber's objects (50-255 ms, measured
with `gc.callbacks` under bench/fanout.py) and collecting a few hundred of them; one landing while an
event fans out delays every subscriber's frame (the p99 of the fan-out bench). Young generations are
still collected as usual (a request's short-lived cycles die there); the oldest generation, where the
cycles of long-lived subscriptions end up when they leave, is collected every `full_collection_s` seconds.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager, suppress

log = logging.getLogger(__name__)

_IMPORT_THRESHOLD = 10_000
"""The youngest generation's threshold while importing (CPython's default: 700); most of the gain, for 0.1 s
of 2.6 s less than with no collection at all."""
_NEVER = 2**31 - 1
"""An oldest-generation threshold no process reaches: full collections only run when scheduled."""
_serving: set[asyncio.Task[None]] = set()
"""The collectors of the apps serving in this process (tests run several at once)."""
_thresholds: list[int] = []


@contextmanager
def importing() -> Iterator[None]:
    """The block (a process's start-up imports) with the youngest generation collected rarely.

    >>> with importing():
    ...     from dealgraph.server.app import create_app
    """
    found = gc.get_threshold()
    gc.set_threshold(max(found[0], _IMPORT_THRESHOLD), *found[1:])
    try:
        yield
    finally:
        gc.set_threshold(*found)


@asynccontextmanager
async def settled_heap(full_collection_s: float) -> AsyncIterator[None]:
    """Freeze the start-up heap and schedule full collections while serving (see the module doc).

    When the process's last app stops, the thresholds are restored and the heap unfrozen, so a process that
    builds several apps (the tests do) does not keep the earlier ones' cycles for ever.

    >>> async with settled_heap(full_collection_s=30.0):
    ...     await serve()
    """
    gc.collect()
    gc.freeze()
    log.debug("%d start-up objects frozen out of garbage collection", gc.get_freeze_count())
    if not _serving:  # the first app of the process: the thresholds it found are the ones to restore
        _thresholds[:] = gc.get_threshold()
        gc.set_threshold(_thresholds[0], _thresholds[1], _NEVER)
    collector = asyncio.create_task(_collect_every(full_collection_s), name="dealgraph-full-gc")
    _serving.add(collector)
    try:
        yield
    finally:
        _serving.discard(collector)
        collector.cancel()
        with suppress(asyncio.CancelledError):
            await collector
        if not _serving:
            gc.set_threshold(*_thresholds)
            gc.unfreeze()


async def _collect_every(seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        started = time.perf_counter()
        found = gc.collect()
        log.debug("full collection: %d unreachable objects in %.1f ms", found, (time.perf_counter() - started) * 1000)
