"""The analysis engine of one process: notification hub, Claude client, analysis and experiment pools.

`serve` runs it inside the API process; `dealgraph analysis-pool` runs it alone. Either way the process
listens for run events (to push them to its subscribers and to cancel its own runs) and, with
`analysis_slots > 0`, executes runs.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from dealgraph.claude.client import LlmClient
from dealgraph.claude.models import MODELS
from dealgraph.config import Settings
from dealgraph.db.session import Database
from dealgraph.fanout import transport as event_transport
from dealgraph.fanout.hub import NotificationHub
from dealgraph.runs.analysis_pool import AnalysisPool
from dealgraph.runs.experiment_pool import ExperimentPool
from dealgraph.runs.runner import AgentRunner
from dealgraph.stopping import finish_within

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Engine:
    hub: NotificationHub
    llm: LlmClient
    analysis_pool: AnalysisPool | None
    experiment_pool: ExperimentPool | None


@asynccontextmanager
async def analysis_engine(database: Database, settings: Settings) -> AsyncIterator[Engine]:
    if settings.llm_model not in MODELS:
        log.error(
            "DEALGRAPH_LLM_MODEL=%s is not a known model (%s): every run of the built-in prompts will fail "
            "with MODEL_UNKNOWN",
            settings.llm_model,
            ", ".join(MODELS),
        )
    events: event_transport.EventTransport | None = None
    if settings.event_transport == "redis":
        from dealgraph.fanout.redis import RedisEvents  # redis-py is a seventh of a second of CPU to import

        events = RedisEvents(settings.redis_url, database.url)
    hub = NotificationHub(database.url, events)
    await hub.start()
    event_transport.activate(events)
    llm = LlmClient(settings)
    analysis_pool = experiment_pool = None
    if settings.analysis_slots > 0:
        analysis_pool = AnalysisPool(database, hub, AgentRunner(database, hub, llm, settings), settings)
        await analysis_pool.start()
        experiment_pool = ExperimentPool(database, llm, settings)
        await experiment_pool.start()
    try:
        yield Engine(hub, llm, analysis_pool, experiment_pool)
    finally:
        if experiment_pool:
            await finish_within("stopping the experiment pool", experiment_pool.stop(), settings.shutdown_timeout_s)
        if analysis_pool:
            await analysis_pool.stop()
        event_transport.activate(None)
        await finish_within("closing the notification listener", hub.stop(), settings.shutdown_timeout_s)
        await finish_within("closing the Claude client", llm.close(), settings.shutdown_timeout_s)
