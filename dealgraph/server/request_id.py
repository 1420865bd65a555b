"""Request ids: accepted from `X-Request-ID` when sane, else generated; echoed on every response."""

from __future__ import annotations

import itertools
import os
import re
import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealgraph.logs import log_context

_SANE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
_prefix = secrets.token_hex(8)
_sequence = itertools.count(1)


def _reseed() -> None:
    global _prefix, _sequence
    _prefix, _sequence = secrets.token_hex(8), itertools.count(1)


os.register_at_fork(after_in_child=_reseed)  # a forked process must not repeat its parent's ids


def new_request_id() -> str:
    """Unique without a system call per request (uuid4 reads the OS's randomness): a random
    per-process prefix and a counter."""
    return f"{_prefix}{next(_sequence):016x}"


def request_id_of(scope: Scope) -> str:
    return str(scope.get("state", {}).get("request_id", ""))


class RequestIdMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        incoming = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _SANE.match(incoming) else new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        with log_context(request_id=request_id):
            await self.app(scope, receive, send_with_id)
