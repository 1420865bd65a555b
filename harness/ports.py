"""Local TCP ports: a free one to listen on, and whether something already answers on one."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port on 127.0.0.1 nobody listens on right now (the OS picks it; a race with another process is possible
    but harmless in practice: the caller binds it within milliseconds)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether a TCP server accepts connections on `host:port`."""
    with socket.socket() as probe:
        probe.settimeout(timeout_s)
        return probe.connect_ex((host, port)) == 0
