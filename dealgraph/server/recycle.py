"""Give the memory of a burst of WebSockets back by restarting the API process they left.

A subscriber costs about 60 KB of the process while connected (bench/idle_subscribers.py). When
thousands leave, everything held for them is freed (tests/test_ws_memory.py), and the next burst
reuses that memory, but the process stays at its peak size: CPython keeps a small-object arena while
any object in it lives, and `malloc_trim` gave back nothing measurable (README, "Idle subscribers").
The one way to return it is a new process.

Under `dealgraph serve --api-processes N` uvicorn's supervisor starts a new worker when one exits, and the
others keep accepting on the shared socket meanwhile. So when an API process that held at least
`after_sockets` WebSockets at once has none left and has grown by `growth_mb` since its first one
arrived, it shuts down gracefully (SIGTERM to itself: in-flight HTTP requests finish) and is replaced
by a fresh one. Nothing is interrupted: the trigger is the last socket leaving. When every process
empties at once they all restart, and new connections wait in the listen backlog for a few seconds
(measured: bench/idle_subscribers.py --workers 2). A single-process `serve` has no supervisor to
restart it, so it never recycles.

>>> recycler = Recycler(after_sockets=1000, growth_mb=64)
>>> recycler.socket_joined(live=1)  # from the WebSocket handler, with the process's live count
>>> recycler.socket_left(live=0)
"""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Callable

log = logging.getLogger(__name__)


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is not there, so nothing is ever recycled for size)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def _shut_down_gracefully() -> None:
    """uvicorn's own SIGTERM handling: stop accepting, finish in-flight requests, run the lifespan shutdown."""
    signal.raise_signal(signal.SIGTERM)


class Recycler:
    def __init__(
        self,
        after_sockets: int,
        growth_mb: float,
        *,
        restart: Callable[[], None] = _shut_down_gracefully,
        measure: Callable[[], int] = resident_bytes,
    ) -> None:
        self.after_sockets = after_sockets
        self.growth_bytes = int(growth_mb * 1024 * 1024)
        self._restart = restart
        self._measure = measure
        self._baseline: int | None = None
        self._peak = 0
        self.restarting = False

    def socket_joined(self, live: int) -> None:
        if self._baseline is None:  # after start-up, before any subscriber: what a fresh process weighs
            self._baseline = self._measure()
        self._peak = max(self._peak, live)

    def socket_left(self, live: int) -> None:
        if live or self.restarting or self._peak < self.after_sockets or self._baseline is None:
            return
        grown, peak = self._measure() - self._baseline, self._peak
        self._peak = 0  # this burst is judged: the next one starts counting afresh
        if grown < self.growth_bytes:
            return
        self.restarting = True
        log.info("restarting this API process to return the %.0f MB that %d WebSockets left", grown / 2**20, peak)
        self._restart()
