"""Every use of a uvicorn internal, in one place: the supervisor of several API processes noticing a death at
once, and refusing connections as soon as it is told to stop.

uvicorn's supervisor pings an API process it finds alive and waits for the answer up to the health-check
timeout, and it keeps the pipe's other end itself, so a process that exits with a ping pending (an API
process restarting after a burst of WebSockets, `recycle.py`, on a machine too busy to schedule its
answering thread in its last milliseconds) is not seen dead until the timeout: no replacement for a
minute, and with every process exiting at once no server (a CI failure of tests/test_recycle.py).

uvicorn has no public hook for this: the wait is `Process._healthcheck` (behind the public `ping` and
`is_ready`), and the supervisor builds its handles by the module global `Process`. tests/test_library_overrides.py
checks both against the installed uvicorn (and names its version when they move); pyproject.toml bounds
uvicorn to the versions checked.

uvicorn's supervisor binds the listening socket and hands a copy to each API process. On SIGTERM each
process closes its copy and drains, but the supervisor keeps its own open until every process has
exited: for the whole drain the kernel completed new connections into a backlog nobody read, so a
client (or a load balancer probing /readyz) hung instead of being refused. `StopAcceptingMultiprocess`
closes the supervisor's copy when SIGTERM or SIGINT arrives, so new connections are refused at once, as
with a single API process (uvicorn closes its listener first thing on shutdown). It does so in the signal
handler itself, and tells the API processes to drain there too: uvicorn's handler only queues the signal for
the supervisor's loop, which first health-checks every API process, up to seconds each when they are busy (on
a loaded machine the port kept accepting for more than six seconds after SIGTERM). From then on the loop
replaces no process that ends.
"""

from __future__ import annotations

import pickle
import signal
import socket
import time
from types import FrameType

import uvicorn.supervisors.multiprocess as uvicorn_multiprocess
from uvicorn import Config
from uvicorn.supervisors import Multiprocess

_DEATH_CHECK_S = 0.1


class WatchedProcess(uvicorn_multiprocess.Process):
    """uvicorn's handle of an API process, with a health check that notices the process dying while it waits:
    it waits in short slices and checks the process between them."""

    def _healthcheck(self, timeout: float) -> bool | None:
        try:
            self.parent_conn.send(b"ping")
            deadline = time.monotonic() + timeout
            while not self.parent_conn.poll(min(_DEATH_CHECK_S, max(0.0, deadline - time.monotonic()))):
                if not self.process.is_alive() or time.monotonic() >= deadline:
                    return None
            started: bool = self.parent_conn.recv()
            return started
        except (OSError, EOFError, pickle.UnpicklingError):
            return None


def watch_process_deaths() -> None:
    """Makes uvicorn's supervisor (in this process) build its API-process handles as `WatchedProcess`."""
    uvicorn_multiprocess.Process = WatchedProcess  # type: ignore[misc]


class StopAcceptingMultiprocess(Multiprocess):
    """uvicorn's supervisor of several API processes, closing its copy of the listening socket as soon as it is
    told to stop (the API processes close theirs as they begin to drain, so the port then refuses connections).

    >>> StopAcceptingMultiprocess(config, sockets=[config.bind_socket()]).run()
    """

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        super().__init__(config, sockets)
        self._stopping = False
        for stop in (signal.SIGINT, signal.SIGTERM):  # after uvicorn's own, which only queue the signal
            signal.signal(stop, self._stop_signal)

    def _stop_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True
        for listener in self.sockets:
            listener.close()
        self.terminate_all()  # each API process closes its copy and drains (a second SIGTERM later changes nothing)
        self.signal_queue.append(signum)  # uvicorn's loop then stops as it would have

    def keep_subprocess_alive(self) -> None:
        if not self._stopping:  # an API process whose drain ends before the loop reads the signal stays ended
            super().keep_subprocess_alive()
