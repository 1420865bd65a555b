"""Ways to serve the stand-in: in a background thread for tests, or in a process of its own
(`python -m dealgraph.standin`, which `serve` starts as a child when no API key is set)."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn

from dealgraph.standin.app import create_standin_app
from dealgraph.standin.config import StandinConfig

DEFAULT_STANDIN_PORT = 8787
_STARTUP_TIMEOUT_S = 10.0

log = logging.getLogger(__name__)


@dataclass
class RunningStandin:
    """A stand-in serving on `base_url`; pass that to `AsyncAnthropic(base_url=...)`."""

    base_url: str
    _server: uvicorn.Server
    _thread: threading.Thread

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=_STARTUP_TIMEOUT_S)

    def __enter__(self) -> RunningStandin:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _base_url(host: str, port: int) -> str:
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _bound_socket(host: str, port: int) -> tuple[socket.socket, int]:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
    return sock, bound_port


def start_standin_in_thread(config: StandinConfig, host: str = "127.0.0.1", port: int = 0) -> RunningStandin:
    """Binds before starting so `port=0` yields a known free port, and returns only once it accepts requests."""
    sock, bound_port = _bound_socket(host, port)
    uvicorn_config = uvicorn.Config(create_standin_app(config), log_level="warning", access_log=False, lifespan="off")
    server = uvicorn.Server(uvicorn_config)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name=f"llm-standin:{bound_port}", daemon=True
    )
    thread.start()
    running = RunningStandin(_base_url(host, bound_port), server, thread)
    deadline = time.monotonic() + _STARTUP_TIMEOUT_S
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            running.stop()
            sock.close()
            raise RuntimeError(f"LLM stand-in failed to start on {running.base_url}")
        time.sleep(0.01)
    return running


def run_standin(
    config: StandinConfig, host: str = "127.0.0.1", port: int = DEFAULT_STANDIN_PORT, fd: int | None = None
) -> None:
    """Blocks until interrupted; the warning makes it obvious in logs that no real model answers.

    With `fd`, serves on that inherited listening socket (how `serve` starts it) instead of binding."""
    if fd is None:
        log.warning("LLM stand-in on %s: every Messages API response is SIMULATED", _base_url(host, port))
        uvicorn.run(create_standin_app(config), host=host, port=port, lifespan="off")
        return
    sock = socket.socket(fileno=fd)
    bound_host, bound_port = sock.getsockname()[:2]
    log.info("LLM stand-in (process %d) on %s", os.getpid(), _base_url(bound_host, bound_port))
    app = create_standin_app(config)
    uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="off")).run(sockets=[sock])
