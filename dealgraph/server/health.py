"""Liveness (`/healthz`) and readiness (`/readyz`) for load balancers and orchestrators.

`/healthz` says whether this process can do its job at all (it reaches PostgreSQL); `/readyz` also
says whether it should get traffic now: not before start-up finished (migrations, notification
listener, job pools) and not once shutdown began. Both answer 503 with a reason rather than failing.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from dealgraph.db.ping import ping
from dealgraph.db.session import Database

log = logging.getLogger(__name__)
CHECK_TIMEOUT_S = 3.0  # a database that takes longer to answer SELECT 1 is down for our purposes


async def database_problem(database: Database) -> str | None:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT_S):
            await ping(database)
    except Exception as error:  # any failure means "not healthy"; the reason is what matters
        reason = f"database unreachable ({type(error).__name__})"
        log.warning("health check failed: %s", reason)
        return reason
    return None


def _answer(problem: str | None) -> JSONResponse:
    if problem is None:
        return JSONResponse({"status": "ok"})
    return JSONResponse({"status": "unavailable", "reason": problem}, status_code=503)


def health_routes(database: Database) -> list[Route]:
    """Readiness follows `app.state.ready`, which the app's lifespan sets after start-up and clears at shutdown."""

    async def healthz(request: Request) -> JSONResponse:
        return _answer(await database_problem(database))

    async def readyz(request: Request) -> JSONResponse:
        if not getattr(request.app.state, "ready", False):
            return _answer("not started, or shutting down")
        return _answer(await database_problem(database))

    return [Route("/healthz", healthz), Route("/readyz", readyz)]
