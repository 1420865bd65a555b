"""A request still under way when the drain deadline passes gets a clear answer, not uvicorn's 500.

After SIGTERM an API process gives what is under way DEALGRAPH_SHUTDOWN_TIMEOUT_S to finish, then uvicorn
cancels the request tasks left (`dealgraph.server.protocol.uvicorn_options`). uvicorn cancels a request's
task for nothing else (a client that leaves is told by `http.disconnect`), so a cancellation reaching the
top of an HTTP request is that cut. uvicorn would log it as an application error and answer 500 "Internal
Server Error"; here a request whose response has not started is answered 503 SERVICE_UNAVAILABLE with
`Retry-After`, GraphQL-shaped, so the client retries against a process that is not stopping. A response
already under way cannot change its status: its connection is closed, as uvicorn does.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealgraph.errors import ErrorCode
from dealgraph.server.view import error_response

log = logging.getLogger(__name__)

_RETRY_AFTER_S = 1


class AnswerCutRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except asyncio.CancelledError:
            log.warning("%s %s cut: the drain deadline passed", scope["method"], scope["path"])
            if started:
                raise
            refusal = error_response(
                503,
                "The server is stopping and could not finish this request in time; retry it.",
                ErrorCode.SERVICE_UNAVAILABLE,
                {"Retry-After": str(_RETRY_AFTER_S), "Connection": "close"},
            )
            await refusal(scope, receive, send)
