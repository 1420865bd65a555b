"""Ways to serve the stand-in: in a background thread for tests, or in the foreground for `dealgraph llm-standin`."""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import uvicorn

from dealgraph.agents.standin.app import create_standin_app
from dealgraph.agents.standin.config import StandinConfig

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


def start_standin_in_thread(config: StandinConfig, host: str = "127.0.0.1", port: int = 0) -> RunningStandin:
    """Binds before starting so `port=0` yields a known free port, and returns only once it accepts requests."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound_port: int = sock.getsockname()[1]
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


def run_standin(config: StandinConfig, host: str = "127.0.0.1", port: int = DEFAULT_STANDIN_PORT) -> None:
    """Blocks until interrupted; the warning makes it obvious in logs that no real model answers."""
    log.warning("LLM stand-in on %s: every Messages API response is SIMULATED", _base_url(host, port))
    uvicorn.run(create_standin_app(config), host=host, port=port, lifespan="off")
