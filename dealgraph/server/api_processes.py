"""`dealgraph serve`: API processes on one port, and a line saying when they answer.

One Python process runs GraphQL on one core at most. With `--api-processes N` (N > 1) uvicorn's
supervisor starts N processes that share the listening socket; each builds its app from the environment
(`app_from_environment`). What must exist once is done by the parent first: the embedded PostgreSQL (when
DATABASE_URL is unset), migrations and built-in prompts, and the LLM stand-in (when no API key is set;
`serve` starts it in a child process and the API processes get its URL). The analysis pool runs in one
more child process (`dealgraph analysis-pool`, DEALGRAPH_ANALYSIS_SLOTS slots; restarted if it dies), so
the API processes only serve: orchestration does not compete with GraphQL for their event loops.
Subscriptions, revocations and queued runs reach every process through the event transport (PostgreSQL
notifications by default), as with separate servers. Every child watches the parent and stops when it is
gone, killed or not (`dealgraph.children`). The pool starts once the API answers: starting alongside, its
import competed with the API processes' for the cores (on 2 busy cores, ready 15 s later: 44 s against 29 s).

Each API process imports the whole app before it listens (seconds of CPU, N processes at once on a busy
machine): uvicorn's "Uvicorn running on" line comes when the parent binds the port, long before that, and
connections are refused meanwhile. So `serve` says so, and logs "dealgraph ready" once the port answers.

Stopping (SIGTERM, or Ctrl-C) refuses new connections at once, with any number of API processes: the port
closes, rather than answering 503 on /readyz, so a load balancer takes the server out of rotation on its
next probe. What is under way gets DEALGRAPH_SHUTDOWN_TIMEOUT_S to finish; then it is cut, the process's
claimed agent runs are handed back to the queue (the lifespan's shutdown stops the analysis pool), and it
exits. The analysis pool's own process is stopped once the API processes are gone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from contextlib import nullcontext

import uvicorn
from starlette.applications import Starlette

from dealgraph.bootstrap import prepare_database
from dealgraph.children import ChildProcess, answers, supervised_env, watch_supervisor
from dealgraph.config import Settings, get_settings
from dealgraph.db.embedded import database_url_for
from dealgraph.db.session import Database
from dealgraph.logs import configure_logging
from dealgraph.observability.shared_directory import shared_metrics_directory
from dealgraph.server.heap import importing
from dealgraph.server.protocol import uvicorn_options
from dealgraph.server.uvicorn_overrides import StopAcceptingMultiprocess, watch_process_deaths

log = logging.getLogger(__name__)

_HEALTHCHECK_TIMEOUT_S = 60
_READY_POLL_S = 0.2
_WILDCARD_TO_LOOPBACK = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def serve_api(settings: Settings, host: str, port: int, processes: int, *, started: float) -> None:
    """Serve until stopped; `processes` API processes share the port. The database is made ready first, so an
    unreachable one ends `serve` before any process starts. `started`: the `time.monotonic()` the ready line
    counts from."""
    url = database_url_for(settings)
    asyncio.run(_prepare(url, settings))
    settings = settings.model_copy(update={"database_url": url, "auto_migrate": False})
    log.info(
        "starting %d API process(es) on port %d; each loads the app first, and connections are refused until "
        "the 'dealgraph ready' line",
        processes,
        port,
    )
    pool = _PoolOnceReady(settings.analysis_slots) if processes > 1 and settings.analysis_slots > 0 else None
    threading.Thread(
        target=_announce_ready, args=(host, port, processes, started, pool), name="announce-ready", daemon=True
    ).start()
    try:
        if processes > 1:
            with shared_metrics_directory() if settings.metrics_token else nullcontext():
                _serve_processes(settings, host, port, processes)
        else:
            with importing():
                from dealgraph.server.app import create_app

            uvicorn.run(  # log_config=None: uvicorn's lines go through our handler (format, request context)
                create_app(settings),
                host=host,
                port=port,
                log_config=None,
                access_log=settings.access_log,  # off by default: a log line per request costs the hot path
                **uvicorn_options(settings),
            )
    finally:
        if pool:
            pool.stop()


class _PoolOnceReady:
    """The analysis pool's process, started by the ready announcement (from its thread) unless `serve` is
    already stopping."""

    def __init__(self, slots: int) -> None:
        self._slots = slots
        self._lock = threading.Lock()
        self._child: ChildProcess | None = None
        self._stopping = False

    def start(self) -> None:
        with self._lock:
            if not self._stopping:
                env = {"DEALGRAPH_ANALYSIS_SLOTS": str(self._slots)}
                self._child = ChildProcess("analysis pool", ["dealgraph.cli", "analysis-pool"], env)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            if self._child:
                self._child.stop()


def _announce_ready(host: str, port: int, processes: int, started: float, pool: _PoolOnceReady | None) -> None:
    """Logs once the port answers /readyz, the moment a user's request would be served, and starts the pool."""
    loopback = _WILDCARD_TO_LOOPBACK.get(host, host)
    while not answers(loopback, port, "/readyz", timeout_s=5):
        time.sleep(_READY_POLL_S)
    shown = f"[{host}]" if ":" in host else host
    log.info(
        "dealgraph ready: GraphQL at http://%s:%d/graphql (%d API process(es), %.1f s after start)",
        shown,
        port,
        processes,
        time.monotonic() - started,
    )
    if pool:
        pool.start()


def _serve_processes(settings: Settings, host: str, port: int, processes: int) -> None:
    assert settings.database_url is not None  # serve_api resolved it
    os.environ["DATABASE_URL"] = settings.database_url  # the processes read their settings from the environment
    if settings.anthropic_base_url:
        os.environ["ANTHROPIC_BASE_URL"] = settings.anthropic_base_url  # the parent's stand-in, if it started one
    os.environ["DEALGRAPH_AUTO_MIGRATE"] = "false"
    os.environ["DEALGRAPH_ANALYSIS_SLOTS"] = "0"  # the API processes only serve; the pool has a process of its own
    os.environ.update(supervised_env())
    watch_process_deaths()  # an API process that dies with a health ping pending is replaced at once
    config = uvicorn.Config(
        "dealgraph.server.api_processes:app_from_environment",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_config=None,
        access_log=settings.access_log,
        # uvicorn kills a process that has not answered its health ping within this; its default (5 s) is
        # shorter than importing the app takes on a loaded 2-core machine, so processes were killed in a loop
        timeout_worker_healthcheck=_HEALTHCHECK_TIMEOUT_S,
        **uvicorn_options(settings),
    )
    StopAcceptingMultiprocess(config, sockets=[config.bind_socket()]).run()  # what uvicorn.run does, refusing sooner


async def _prepare(url: str, settings: Settings) -> None:
    database = Database(url, app_role=settings.app_role, pool_size=1)
    try:
        await prepare_database(database, settings, apply_migrations=settings.auto_migrate)
    finally:
        await database.dispose()


def app_from_environment() -> Starlette:
    """The app of one API process (uvicorn imports and calls this in each)."""
    with importing():
        from dealgraph.server.app import create_app

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    watch_supervisor()
    return create_app(settings, restartable=True)  # uvicorn's supervisor replaces a process that exits
