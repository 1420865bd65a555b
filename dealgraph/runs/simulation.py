"""No API key: run the agents against the local Messages API stand-in, and say so loudly.

The stand-in (`dealgraph.standin`) is started by module name in a child process and reached over
HTTP only: production code never imports it, and never shares its GIL or event loop with it, so no
figure measured on a server includes the stand-in's own work.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass

from dealgraph.children import ChildProcess, answers
from dealgraph.config import Settings

log = logging.getLogger("dealgraph.simulation")

STANDIN_MODULE = "dealgraph.standin"
_STARTUP_TIMEOUT_S = 120.0  # a fresh interpreter on a loaded machine; only a broken child waits this long

BANNER = (
    "\n" + "!" * 78 + "\n"
    "!!  NO ANTHROPIC_API_KEY: agents run against the LOCAL STAND-IN at %s (process %d, a child of %d)\n"
    "!!  Every analysis result is SIMULATED (metadata.simulated = true), not real analysis.\n" + "!" * 78
)


@dataclass
class StandinProcess:
    """A stand-in in a child process (`python -m dealgraph.standin --fd N`), serving on a socket this process
    bound and keeps: a restarted child serves the same `base_url`."""

    base_url: str
    child: ChildProcess
    _socket: socket.socket

    @property
    def pid(self) -> int:
        return self.child.pid

    def stop(self) -> None:
        self.child.stop()
        self._socket.close()


def start_standin_process(
    latencies: dict[str, float], host: str = "127.0.0.1", port: int = 0, log_level: str | None = None
) -> StandinProcess:
    """Returns once the child answers HTTP; the socket is listening before the child starts, so nothing is refused.
    `log_level`: the child's, instead of the configured one."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(socket.SOMAXCONN)
    bound_port: int = sock.getsockname()[1]
    base_url = f"http://[{host}]:{bound_port}" if ":" in host else f"http://{host}:{bound_port}"
    args = [STANDIN_MODULE, "--fd", str(sock.fileno()), "--latencies", json.dumps(latencies)]
    env = {"DEALGRAPH_LOG_LEVEL": log_level} if log_level else {}
    running = StandinProcess(base_url, ChildProcess("LLM stand-in", args, env, [sock.fileno()]), sock)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not answers(host, bound_port, "/_standin/stats", timeout_s=1.0):
        if not running.child.alive() or time.monotonic() > deadline:
            running.stop()
            raise RuntimeError(f"LLM stand-in process failed to start on {running.base_url}")
        time.sleep(0.05)
    return running


def with_llm_access(
    settings: Settings, *, quiet: bool = False, standin_log_level: str | None = None
) -> tuple[Settings, StandinProcess | None]:
    """The settings to run with: unchanged with a key or base URL, else pointed at a fresh stand-in
    (announced with a loud banner unless the caller says so itself; logging at `standin_log_level` if given)."""
    if settings.anthropic_api_key or settings.anthropic_base_url:
        return settings, None
    standin = start_standin_process(settings.standin_latencies, port=settings.standin_port, log_level=standin_log_level)
    if not quiet:
        log.warning(BANNER, standin.base_url, standin.pid, os.getpid())
    return settings.model_copy(update={"anthropic_base_url": standin.base_url}), standin
