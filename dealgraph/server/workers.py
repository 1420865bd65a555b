"""`dealgraph serve --workers N`: several API processes on one port, for machines with several cores.

One Python process runs GraphQL on one core at most. uvicorn's supervisor starts N processes that
share the listening socket; each builds its app from the environment (`app_from_environment`).
What must exist once is done by the parent first: the embedded PostgreSQL (when DATABASE_URL is
unset), migrations and built-in prompts, and the LLM stand-in (when no API key is set; it runs in
the parent and the processes get its URL). Subscriptions, revocations and queued runs reach every
process through PostgreSQL notifications, as with separate servers. Each process runs its own agent
worker slots (DEALGRAPH_WORKER_SLOTS each); DEALGRAPH_LLM_CONCURRENCY still caps all of them.
"""

from __future__ import annotations

import asyncio
import os

import uvicorn
from starlette.applications import Starlette

from dealgraph.config import Settings, get_settings
from dealgraph.db.bootstrap import prepare_database
from dealgraph.db.embedded import database_url_for
from dealgraph.db.session import Database
from dealgraph.logs import configure_logging
from dealgraph.server.app import create_app


def serve_workers(settings: Settings, host: str, port: int, workers: int) -> None:
    url = database_url_for(settings)
    asyncio.run(_prepare(url, settings))
    os.environ["DATABASE_URL"] = url  # the processes read their settings from the environment
    if settings.anthropic_base_url:
        os.environ["ANTHROPIC_BASE_URL"] = settings.anthropic_base_url  # the parent's stand-in, if it started one
    os.environ["DEALGRAPH_AUTO_MIGRATE"] = "false"
    uvicorn.run(
        "dealgraph.server.workers:app_from_environment", factory=True, workers=workers, host=host, port=port,
        log_config=None, access_log=settings.access_log,
    )


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
    return create_app(settings)
