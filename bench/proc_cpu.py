"""CPU time and memory of processes read from /proc (Linux): a server's process tree, PostgreSQL backends of a
database.

Dividing by the requests served gives CPU per request, a figure that, unlike req/s, barely moves
when other people's jobs share the machine.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    ppid: int
    cpu: float
    """utime + stime of the process itself, in seconds."""
    reaped_children_cpu: float
    """cutime + cstime: CPU of children it has already waited for."""


def read_stat(pid: int) -> ProcStat | None:
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw.rsplit(")", 1)[1].split()  # the command name (in parentheses) may contain spaces
    utime, stime, cutime, cstime = (int(value) / _TICKS for value in fields[11:15])
    return ProcStat(pid, int(fields[1]), utime + stime, cutime + cstime)


def all_stats() -> list[ProcStat]:
    return [stat for entry in PROC.iterdir() if entry.name.isdigit() and (stat := read_stat(int(entry.name)))]


def tree(root: int) -> list[ProcStat]:
    """`root` and its live descendants."""
    stats = all_stats()
    children: dict[int, list[ProcStat]] = {}
    for stat in stats:
        children.setdefault(stat.ppid, []).append(stat)
    found, pending = [], [stat for stat in stats if stat.pid == root]
    while pending:
        stat = pending.pop()
        found.append(stat)
        pending.extend(children.get(stat.pid, []))
    return found


def tree_cpu(root: int) -> float:
    """Seconds of CPU used by `root`, its live descendants and every child any of them has reaped."""
    return sum(stat.cpu + stat.reaped_children_cpu for stat in tree(root))


def rss_mb(pid: int) -> float:
    """Resident memory of one process (0 once it has ended)."""
    try:
        status = (PROC / str(pid) / "status").read_text()
    except OSError:
        return 0.0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def tree_rss_mb(root: int) -> float:
    """Resident memory of `root` and its live descendants (`serve --api-processes N`: the supervisor and its workers)."""
    return sum(rss_mb(stat.pid) for stat in tree(root))


def cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def local_postmaster(backend_pid: int) -> int | None:
    """The postmaster of a backend, if that backend runs on this machine (else its figures are n/a)."""
    stat = read_stat(backend_pid)
    if stat is None or not cmdline(backend_pid).startswith("postgres:"):
        return None
    return stat.ppid


class BackendCpuSampler:
    """CPU used by a database's backends during a measurement, sampled often enough to see short-lived ones.

    A backend's title names its database ("postgres: user db host(port) state"). Backends alive at
    `begin()` count from their CPU then; backends born later count whole (their start-up is part of
    the load). A backend that exits loses at most its last `interval` of CPU.
    """

    def __init__(self, postmaster: int, database: str, interval: float = 0.2) -> None:
        self.postmaster = postmaster
        self.marker = f" {database} "
        self.interval = interval
        self._baseline: dict[int, float] = {}
        self._latest: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _backends(self) -> dict[int, float]:
        found = {}
        for stat in all_stats():
            if stat.ppid == self.postmaster and self.marker in cmdline(stat.pid):
                found[stat.pid] = stat.cpu
        return found

    def _sample(self) -> None:
        for pid, cpu in self._backends().items():
            self._latest[pid] = cpu

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def begin(self) -> None:
        self._baseline = self._backends()
        self._latest = dict(self._baseline)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def end(self) -> float:
        """Seconds of backend CPU since `begin()`."""
        self._stop.set()
        if self._thread:
            self._thread.join()
        self._sample()
        return sum(cpu - self._baseline.get(pid, 0.0) for pid, cpu in self._latest.items())
