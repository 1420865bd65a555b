"""`dealgraph serve --workers N`: several API processes on one port, for machines with several cores.

One Python process runs GraphQL on one core at most. uvicorn's supervisor starts N processes that
share the listening socket; each builds its app from the environment (`app_from_environment`).
What must exist once is done by the parent first: the embedded PostgreSQL (when DATABASE_URL is
unset), migrations and built-in prompts, and the LLM stand-in (when no API key is set; `serve`
starts it in a child process and the API processes get its URL). The analysis worker pool runs in
one more child process (`dealgraph worker`, DEALGRAPH_WORKER_SLOTS slots; restarted if it dies), so
the API processes only serve: orchestration does not compete with GraphQL for their event loops.
Subscriptions, revocations and queued runs reach every process through the event transport
(PostgreSQL notifications by default), as with separate servers. Every child watches the parent and
stops when it is gone, killed or not (`dealgraph.children`).
"""

from __future__ import annotations

import asyncio
import os

import uvicorn
from starlette.applications import Starlette

from dealgraph.bootstrap import prepare_database
from dealgraph.children import ChildProcess, supervised_env, watch_supervisor
from dealgraph.config import Settings, get_settings
from dealgraph.db.embedded import database_url_for
from dealgraph.db.session import Database
from dealgraph.logs import configure_logging
from dealgraph.server.app import create_app
from dealgraph.server.protocol import uvicorn_options
from dealgraph.server.uvicorn_overrides import watch_process_deaths

_HEALTHCHECK_TIMEOUT_S = 60


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    url = database_url_for(settings)
    asyncio.run(_prepare(url, settings))
    os.environ["DATABASE_URL"] = url  # the processes read their settings from the environment
    if settings.anthropic_base_url:
        os.environ["ANTHROPIC_BASE_URL"] = settings.anthropic_base_url  # the parent's stand-in, if it started one
    os.environ["DEALGRAPH_AUTO_MIGRATE"] = "false"
    pool = None
    if settings.worker_slots > 0:
        pool = ChildProcess(
            "analysis worker pool", ["dealgraph.cli", "worker"], {"DEALGRAPH_WORKER_SLOTS": str(settings.worker_slots)}
        )
    os.environ["DEALGRAPH_WORKER_SLOTS"] = "0"  # the API processes only serve
    os.environ.update(supervised_env())
    watch_process_deaths()  # an API process that dies with a health ping pending is replaced at once
    try:
        uvicorn.run(
            "dealgraph.server.workers:app_from_environment",
            factory=True,
            workers=workers,
            host=host,
            port=port,
            log_config=None,
            access_log=settings.access_log,
            # uvicorn kills a process that has not answered its health ping within this; its default (5 s) is
            # shorter than importing the app takes on a loaded 2-core machine, so workers were killed in a loop
            timeout_worker_healthcheck=_HEALTHCHECK_TIMEOUT_S,
            **uvicorn_options(settings),
        )
    finally:
        if pool:
            pool.stop()


async def _prepare(url: str, settings: Settings) -> None:
    database = Database(url, app_role=settings.app_role, pool_size=1)
    try:
        await prepare_database(database, settings, apply_migrations=settings.auto_migrate)
    finally:
        await database.dispose()


def app_from_environment() -> Starlette:
    """The app of one worker process (uvicorn imports and calls this in each)."""
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    watch_supervisor()
    return create_app(settings, restartable=True)  # uvicorn's supervisor replaces a worker that exits
