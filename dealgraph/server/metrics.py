"""`/metrics`: the Prometheus text format, for whoever holds the metrics token.

Off unless `DEALGRAPH_METRICS_TOKEN` is set: then it answers `Authorization: Bearer <token>` and refuses anything
else with 401, so enabling it never publishes the numbers to whoever reaches the API's port. With several API
processes (`serve --api-processes N`) a scrape reaches one of them and reads the values every process wrote to
the shared directory (`dealgraph.observability.shared_directory`), so any process answers for all. The run queue is read from
PostgreSQL at each scrape: one indexed statement (`dealgraph.db.repositories.queue_stats`).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Iterable

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from dealgraph.db.repositories.queue_stats import QueueStats, queue_stats
from dealgraph.db.session import Database
from dealgraph.observability import metrics
from dealgraph.server.view import bearer_token

log = logging.getLogger(__name__)
_QUEUE_TIMEOUT_S = 2.0


class _Queue(Collector):
    """The run queue as read for this scrape."""

    def __init__(self, stats: QueueStats) -> None:
        self.stats = stats

    def collect(self) -> Iterable[Metric]:
        yield GaugeMetricFamily(
            "dealgraph_queued_runs", "Agent runs waiting to be claimed (all tenants).", value=self.stats.queued_runs
        )
        yield GaugeMetricFamily(
            "dealgraph_oldest_queued_run_age_seconds",
            "How long the oldest queued agent run has waited (0: none waits).",
            value=self.stats.oldest_age_s,
        )


def metrics_routes(database: Database, token: str | None) -> list[Route]:
    if token is None:
        return []
    expected = token.encode()

    async def scrape(request: Request) -> Response:
        given = bearer_token(request.headers.get("authorization"))
        if given is None or not hmac.compare_digest(given.encode(), expected):
            return PlainTextResponse(
                "metrics need 'Authorization: Bearer <DEALGRAPH_METRICS_TOKEN>'\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="dealgraph-metrics"'},
            )
        body = generate_latest(REGISTRY if not metrics.multiprocess() else _shared_registry())
        queue = await _queue(database)
        if queue is not None:
            registry = CollectorRegistry(auto_describe=False)
            registry.register(queue)
            body += generate_latest(registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [Route("/metrics", scrape)]


def _shared_registry() -> CollectorRegistry:
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


async def _queue(database: Database) -> _Queue | None:
    """None when the database does not answer soon: the process's own metrics are still worth serving."""
    try:
        async with asyncio.timeout(_QUEUE_TIMEOUT_S), database.autocommit() as connection:
            return _Queue(await queue_stats(connection))
    except Exception as error:  # a scrape must answer; the queue gauges are missing from it, and why is logged
        log.warning("metrics: the run queue could not be read (%s)", type(error).__name__)
        return None
