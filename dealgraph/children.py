"""Child processes of `dealgraph serve`: started, restarted when they die, and never left behind.

`serve` runs the LLM stand-in (without an API key) and, with `--api-processes N`, the analysis pool in
processes of their own, so neither shares the API's interpreter, GIL or event loop. A parent that exits
normally stops its children (`ChildProcess.stop`); one that is killed (SIGKILL, a crash) cannot, so each
child also watches its parent: it learns the parent's pid from `DEALGRAPH_SUPERVISOR_PID`, and when it
is re-parented (its parent is gone) it stops itself as SIGTERM would, and hard-exits if that hangs.
"""

from __future__ import annotations

import http.client
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence

SUPERVISOR_ENV = "DEALGRAPH_SUPERVISOR_PID"
_WATCH_INTERVAL_S = 0.2
_GRACE_S = 10.0
_RESTART_PAUSE_S = 1.0

log = logging.getLogger(__name__)


def supervised_env() -> dict[str, str]:
    """Environment entries that make a child started by this process watch it."""
    return {SUPERVISOR_ENV: str(os.getpid())}


def watch_supervisor() -> None:
    """In a child: stop when the process named by DEALGRAPH_SUPERVISOR_PID stops being our parent.

    The variable is consumed, so this process's own children are not told to watch its parent."""
    value = os.environ.pop(SUPERVISOR_ENV, None)
    if not value:
        return
    supervisor = int(value)
    if os.getppid() != supervisor:  # it died before we got here
        log.warning("supervisor %d is already gone: exiting", supervisor)
        raise SystemExit(1)
    threading.Thread(target=_watch, args=(supervisor,), name="supervisor-watch", daemon=True).start()


def _watch(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(_WATCH_INTERVAL_S)
    log.warning("supervisor %d is gone: stopping", supervisor)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_GRACE_S)
    os._exit(1)


class ChildProcess:
    """`python -m MODULE ARGS` (`module_args`) as a child of this process, restarted (after a pause) when it
    exits on its own, until `stop()`. `pass_fds` are inherited by every start."""

    def __init__(
        self, name: str, module_args: Sequence[str], env: dict[str, str], pass_fds: Sequence[int] = ()
    ) -> None:
        self.name = name
        self._command = [sys.executable, "-m", *module_args]
        self._env = {**os.environ, **env, **supervised_env()}
        self._pass_fds = tuple(pass_fds)
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self.popen = self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name=f"supervise-{name}", daemon=True)
        self._supervisor.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _spawn(self) -> subprocess.Popen[bytes]:
        # A process group of its own: a terminal's Ctrl-C reaches only `serve`, which stops its children in order.
        popen = subprocess.Popen(self._command, env=self._env, pass_fds=self._pass_fds, process_group=0)
        log.info("%s started (pid %d)", self.name, popen.pid)
        return popen

    def _supervise(self) -> None:
        while True:
            code = self.popen.wait()
            if self._stopping.wait(_RESTART_PAUSE_S):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                log.error("%s (pid %d) exited with %s: restarting it", self.name, self.popen.pid, code)
                self.popen = self._spawn()

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout_s`."""
        with self._lock:
            self._stopping.set()
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.error("%s (pid %d) did not stop within %g s: killing it", self.name, self.popen.pid, timeout_s)
                self.popen.kill()
                self.popen.wait()
        self._supervisor.join(timeout_s)


def http_status(host: str, port: int, path: str, timeout_s: float) -> int | None:
    """The status of `GET path` on a server on this machine (plain HTTP), or None while nothing answers."""
    connection = http.client.HTTPConnection(host, port, timeout=timeout_s)
    try:
        connection.request("GET", path)
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


def answers(host: str, port: int, path: str, timeout_s: float) -> bool:
    """Whether a child's server answers `GET path` with 200 yet: how its parent knows it is up, since the
    socket accepts (the parent bound it) long before the child has loaded its app."""
    return http_status(host, port, path, timeout_s) == 200
