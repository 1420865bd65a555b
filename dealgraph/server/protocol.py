"""How `dealgraph serve` runs uvicorn: its HTTP protocol with a deadline on request headers, and its limits.

uvicorn times out idle kept-alive connections, but not a connection that sends nothing or half its
headers: such a client holds a socket and a parser for as long as it likes, and a few thousand of
them hold the process's file descriptors. Here each request's headers must be complete within
`DEALGRAPH_REQUEST_HEADER_TIMEOUT_S` of the connection (or of the request's first byte on a kept-alive
connection); otherwise the answer is 408 with a GraphQL-shaped body, and the connection is closed.
The body has a deadline of its own once the caller is authenticated (`dealgraph.server.body_limit`).

uvicorn builds one protocol object per connection, in each API process, from the class alone (the
class must be importable there), so the deadline is read from the settings of the environment.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from dealgraph.config import Settings, get_settings
from dealgraph.errors import ErrorCode


def uvicorn_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of `uvicorn.Config` every `serve` passes: the protocol, WebSocket messages bounded
    as HTTP bodies are (uvicorn's default is 16 MiB), and a deadline on the drain after SIGTERM. uvicorn's
    default drain waits for every connection to finish, so one slow client (a body trickling in, a response
    never finished) kept a stopping process up for as long as it liked; past the deadline uvicorn cancels
    what is still running and the lifespan's shutdown hands the process's claimed runs back."""
    return {
        "http": HeaderDeadlineProtocol,
        "ws_max_size": settings.max_body_bytes,
        "timeout_graceful_shutdown": settings.shutdown_timeout_s,
    }


def _request_timeout(timeout_s: float) -> bytes:
    message = (
        f"The request headers did not arrive within {timeout_s:g} seconds "
        f"(DEALGRAPH_REQUEST_HEADER_TIMEOUT_S={timeout_s:g})."
    )
    body = json.dumps(
        {"data": None, "errors": [{"message": message, "extensions": {"code": ErrorCode.REQUEST_TIMEOUT}}]}
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return (head + body).encode()


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol (its default where httptools is installed), with the header deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = get_settings().request_header_timeout_s
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        """The first byte of a request: on a new connection the deadline runs already, since it was made."""
        super().on_message_begin()
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._header_deadline is None:
            self._header_deadline = self.loop.call_later(self.header_timeout_s, self._headers_too_slow)

    def _disarm(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_too_slow(self) -> None:
        self._header_deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # not in the middle of a pipelined response
            self.transport.write(_request_timeout(self.header_timeout_s))
        self.transport.close()
