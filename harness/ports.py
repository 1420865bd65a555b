"""Local TCP ports: a free one for a server to listen on, and whether something already answers on one."""

from __future__ import annotations

import fcntl
import random
import socket
import tempfile
from pathlib import Path
from typing import IO

_LOCKS = Path(tempfile.gettempdir()) / "dealgraph-ports"
_held: list[IO[str]] = []
"""The lock of every port this process was given, held until it exits."""


def free_port() -> int:
    """A port on 127.0.0.1 for a server this process is about to start, nobody else's until this process exits.

    A server started as a child takes seconds to bind on a loaded machine. A port the OS picked (bind to port 0)
    could meanwhile go to another server binding port 0, say a test process's in-thread stand-in: the child then
    failed to bind and the caller talked to the other server. So the port comes from below the kernel's
    ephemeral range, which neither bind(0) nor outgoing connections draw from, and a lock file per port, held
    until this process exits, keeps every other process that asks here (concurrent test runs too) off it."""
    low = _ephemeral_low()
    candidates = list(range(max(1024, low - 12_000), low))
    random.shuffle(candidates)
    for port in candidates:
        if claim(port):
            return port
    raise RuntimeError(f"no free port below {low} on 127.0.0.1")


def claim(port: int) -> bool:
    """Whether `port` is now this process's: free to bind, and its lock file not held by another process."""
    _LOCKS.mkdir(exist_ok=True)
    lock = (_LOCKS / str(port)).open("a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        return False
    if not _bindable(port):
        lock.close()
        return False
    _held.append(lock)
    return True


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def answers(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether a TCP server accepts connections on `host:port`."""
    with socket.socket() as probe:
        probe.settimeout(timeout_s)
        return probe.connect_ex((host, port)) == 0
