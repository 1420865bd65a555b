"""Real `dealgraph` processes on this machine: started on this interpreter (so it is the checkout under test),
their output kept in a log file, ready once they answer HTTP, and stopped with SIGTERM (SIGKILL if they hang)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from dealgraph.children import http_status
from harness.ports import free_port

CLI = (sys.executable, "-m", "dealgraph.cli")
"""The `dealgraph` command, on this interpreter."""

START_TIMEOUT_S = 180.0
"""A loaded two-core machine takes a long time to start several interpreters."""


def run_command(args: Sequence[str], env: Mapping[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One `dealgraph` command run to completion with exactly `env`; its output captured as text.

    `timeout` only catches a hang: `llm check` starts an embedded PostgreSQL and a stand-in and took 60 s with four
    test processes on a loaded two-core machine; a test's own limit (pytest-timeout) is 180 s."""
    return subprocess.run([*CLI, *args], env=dict(env), capture_output=True, text=True, timeout=timeout)


class DealgraphProcess:
    """A `dealgraph` subprocess with its environment on top of this one's; stdout and stderr go to a log file."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str]) -> None:
        self.log = tempfile.NamedTemporaryFile(prefix="dealgraph-", suffix=".log", delete=False)  # noqa: SIM115
        self.popen = subprocess.Popen(
            [*CLI, *args], env={**os.environ, **env}, stdout=self.log, stderr=subprocess.STDOUT
        )

    def output(self) -> str:
        with open(self.log.name, encoding="utf-8", errors="replace") as log:
            return log.read()

    def wait_for_output(self, text: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until the process has logged `text`; fails if it exits first or takes longer than `timeout_s`."""
        deadline = time.monotonic() + timeout_s
        while text not in self.output():
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.popen.args!r} never logged {text!r} (exit {self.popen.poll()}):\n{self.output()}"
                )
            time.sleep(0.05)

    def wait_until_serving(self, url: str, timeout_s: float = START_TIMEOUT_S) -> None:
        """Until GET `url` answers without a server error; fails if the process exits first or takes too long."""
        deadline = time.monotonic() + timeout_s
        parts = urlsplit(url)  # polled over plain http.client: an httpx client builds a TLS context (~20 ms of CPU)
        while True:
            status = http_status(parts.hostname or "127.0.0.1", parts.port or 80, parts.path or "/", timeout_s=1)
            if status is not None and status < 500:
                return
            if self.popen.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"{self.popen.args!r} did not serve {url} (exit {self.popen.poll()}):\n{self.output()}"
                )
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when a machine dies."""
        self.popen.kill()
        self.popen.wait(10)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()
        os.unlink(self.log.name)


@contextmanager
def running(args: Sequence[str], env: Mapping[str, str]) -> Iterator[DealgraphProcess]:
    """A `dealgraph` process for the block, stopped at its end."""
    process = DealgraphProcess(args, env)
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def serving_together(
    commands: Sequence[tuple[Sequence[str], Mapping[str, str]]],
    ready_path: str = "/healthz",
    start_timeout_s: float = START_TIMEOUT_S,
) -> Iterator[list[tuple[str, DealgraphProcess]]]:
    """`dealgraph` commands (args, env) that serve HTTP, each on a free port (`--port` is added), all started
    before any is waited for: their interpreters start side by side, which is most of a server's start-up.
    Yields (base URL, process) for each, in order, once every `ready_path` answers."""
    with ExitStack() as stack:
        started = []
        for args, env in commands:
            port = free_port()
            started.append(
                (f"http://127.0.0.1:{port}", stack.enter_context(running([*args, "--port", str(port)], env)))
            )
        for base_url, process in started:
            process.wait_until_serving(base_url + ready_path, start_timeout_s)
        yield started


@contextmanager
def serving(
    args: Sequence[str], env: Mapping[str, str], ready_path: str = "/healthz", start_timeout_s: float = START_TIMEOUT_S
) -> Iterator[tuple[str, DealgraphProcess]]:
    """One `dealgraph` command that serves HTTP (see `serving_together`)."""
    with serving_together([(args, env)], ready_path, start_timeout_s) as [served]:
        yield served


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
