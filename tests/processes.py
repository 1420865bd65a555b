"""Real `dealgraph` processes for the scale-out tests: workers and servers on this machine."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


CLI = (sys.executable, "-m", "dealgraph.cli")
"""The `dealgraph` command as the tests run it: on this interpreter, so it is the checkout under test."""


def run_command(args: Sequence[str], env: Mapping[str, str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """One `dealgraph` command run to completion with exactly `env`; its output captured as text."""
    return subprocess.run([*CLI, *args], env=dict(env), capture_output=True, text=True, timeout=timeout)


def run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """One `dealgraph` command against the database at `database_url`, in this process's environment."""
    return run_command(args, {**os.environ, "DATABASE_URL": database_url})


class DealgraphProcess:
    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="dealgraph-", suffix=".log", delete=False)  # noqa: SIM115
        self.process = subprocess.Popen(
            [*CLI, *args],
            env={**os.environ, **env},
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as log:
            return log.read()

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        os.unlink(self.log.name)


def process_env(database_url: str, standin_url: str, **settings: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": standin_url,
        "DEALGRAPH_LEASE_S": "1.0",
        "DEALGRAPH_POLL_INTERVAL_S": "0.2",
        "DEALGRAPH_PROGRESS_INTERVAL_S": "0.05",
        "DEALGRAPH_LOG_LEVEL": "INFO",
    }
    return env | {f"DEALGRAPH_{name.upper()}": value for name, value in settings.items()}


@contextmanager
def running(args: list[str], env: dict[str, str]) -> Iterator[DealgraphProcess]:
    process = DealgraphProcess(args, env)
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def serving(env: dict[str, str], *options: str, start_timeout_s: float = 180) -> Iterator[tuple[str, DealgraphProcess]]:
    """A `dealgraph serve` process; yields its base URL (once /healthz answers) and the process."""
    port = free_port()
    if "--api-processes" not in options:  # one API process unless a test asks for more (the default is one per core)
        options = (*options, "--api-processes", "1")
    with running(["serve", "--port", str(port), *options], env) as process:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + start_timeout_s
        while True:
            try:
                if httpx.get(f"{base_url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.process.poll() is None and time.monotonic() < deadline, process.output()
            time.sleep(0.1)
        yield base_url, process


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    """A `dealgraph serve` process; yields its base URL once /healthz answers."""
    with serving(env) as (base_url, _):
        yield base_url


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def descendants(pid: int) -> dict[int, str]:
    """Every process below `pid`, with its command line."""
    found: dict[int, str] = {}
    for child in children(pid):
        try:
            found[child] = Path(f"/proc/{child}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        found |= descendants(child)
    return found
