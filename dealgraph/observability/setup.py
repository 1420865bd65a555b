"""Turning metrics and traces on for one process, before it builds its database and app (their hooks are chosen
then), and what a process does on its way out."""

from __future__ import annotations

import os

from prometheus_client import multiprocess as prometheus_multiprocess

from dealgraph.config import Settings
from dealgraph.observability import metrics, tracing


def observe(settings: Settings) -> None:
    """Metrics when `/metrics` is enabled (`DEALGRAPH_METRICS_TOKEN`); traces when the `OTEL_*` settings ask.

    Both are per process: once one app of a process records, all do (only tests run several apps in one)."""
    if settings.metrics_token:
        metrics.enable()
    tracing.configure_from_environment()


def stop_observing() -> None:
    """This process's live gauges (sockets, connections) leave the sum; its counters stay, as they must: a counter
    of a `serve` must not go down because one of its processes was replaced. Buffered spans are exported."""
    if metrics.enabled() and metrics.multiprocess():
        prometheus_multiprocess.mark_process_dead(os.getpid())
    tracing.shutdown()
