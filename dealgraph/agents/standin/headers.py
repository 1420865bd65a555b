"""Headers every response carries, errors and streams included, so callers can always tell the stand-in answered."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealgraph.agents.standin.ids import new_id

SIMULATED_HEADER = "x-dealgraph-simulated"


class ProtocolHeaders:
    """ASGI middleware rather than per-handler headers, so Starlette's own 404/405 answers are stamped too.

    The request id is also put in `scope["state"]`, where error bodies pick it up as `request_id`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = new_id("req_")
        scope.setdefault("state", {})["request_id"] = request_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"request-id", request_id.encode()), (SIMULATED_HEADER.encode(), b"true")]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, stamped)
