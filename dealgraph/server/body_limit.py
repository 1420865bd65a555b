"""Read a request body within a size limit and a deadline, before anything parses it.

A declared Content-Length over the limit is refused before the body is read (413); a chunked or
lying body is counted while it streams and refused as soon as it passes the limit, so memory stays
bounded by the limit. A body that has not fully arrived by the deadline is refused too (408): a
client sending most of a large body and then stalling would otherwise hold that memory for as long
as it liked. The view reads the body only once the caller is authenticated, so an anonymous client
never gets as far as this (see `dealgraph.server.view`).
"""

from __future__ import annotations

import anyio
from starlette.types import Message, Receive, Scope

from dealgraph.errors import ErrorCode


class BodyRefused(Exception):
    """Why a body was not read: a status, a message and a code for the GraphQL-shaped refusal."""

    def __init__(self, status: int, message: str, code: ErrorCode) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code

    @classmethod
    def too_large(cls, limit: int) -> BodyRefused:
        message = f"Request body is larger than the limit of {limit} bytes (DEALGRAPH_MAX_BODY_BYTES={limit})."
        return cls(413, message, ErrorCode.PAYLOAD_TOO_LARGE)

    @classmethod
    def too_slow(cls, timeout_s: float) -> BodyRefused:
        message = f"The request body did not arrive within {timeout_s:g} seconds (DEALGRAPH_REQUEST_BODY_TIMEOUT_S={timeout_s:g})."
        return cls(408, message, ErrorCode.REQUEST_TIMEOUT)


def declared_too_large(scope: Scope, limit: int) -> bool:
    declared = dict(scope["headers"]).get(b"content-length", b"")
    return declared.isdigit() and int(declared) > limit


async def read_body(receive: Receive, limit: int, timeout_s: float) -> bytes:
    """The whole body (short if the client went away); BodyRefused if it is too large or too slow."""
    chunks: list[bytes] = []
    size = 0
    with anyio.move_on_after(timeout_s) as deadline:
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise BodyRefused.too_large(limit)
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
    if deadline.cancelled_caught:
        raise BodyRefused.too_slow(timeout_s)
    return b"".join(chunks)


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` that hands the application the body already read, then the client's later messages."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # later: disconnect notices

    return replayed
