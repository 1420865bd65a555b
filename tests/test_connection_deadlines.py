"""What only a real `dealgraph serve` can show: uvicorn's protocol with the header deadline, the body read
only after authentication, and WebSocket messages bounded at the protocol as HTTP bodies are."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest
from httpx_ws import WebSocketDisconnect, aconnect_ws

from dealgraph.standin import RunningStandin
from tests.processes import process_env, server
from tests.support import TenantFactory, authenticate, server_client

HEADER_TIMEOUT_S = 1.0
BODY_LIMIT = 64 * 1024
MESSAGE_TOO_BIG = 1009

pytestmark = pytest.mark.processes  # one `dealgraph serve` for the module


@pytest.fixture(scope="module")
def base_url(database_url: str, standin_server: RunningStandin) -> Iterator[str]:
    env = process_env(
        database_url,
        standin_server.base_url,
        analysis_slots="0",
        request_header_timeout_s=str(HEADER_TIMEOUT_S),
        max_body_bytes=str(BODY_LIMIT),
    )
    with server(env) as url:
        yield url


def connect(base_url: str) -> socket.socket:
    address = urlsplit(base_url)
    assert address.hostname is not None and address.port is not None
    return socket.create_connection((address.hostname, address.port), timeout=10)


def answer_until_closed(connection: socket.socket) -> tuple[bytes, float]:
    """Everything the server sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = b""
    while chunk := connection.recv(65536):
        received += chunk
    return received, time.monotonic() - started


@pytest.mark.parametrize(
    "sent",
    [b"", b"POST /graphql HTTP/1.1\r\nHost: dealgraph\r\nContent-Type: appl"],
    ids=["nothing", "half the headers"],
)
def test_headers_not_complete_by_the_deadline_get_408_and_a_close(base_url: str, sent: bytes) -> None:
    with connect(base_url) as connection:
        connection.sendall(sent)
        answer, waited = answer_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 408 ") and b'"code": "REQUEST_TIMEOUT"' in answer, answer
    assert b"DEALGRAPH_REQUEST_HEADER_TIMEOUT_S" in answer
    assert waited < HEADER_TIMEOUT_S + 5


def test_complete_headers_are_served_after_the_deadline_would_have_passed(base_url: str) -> None:
    """The deadline covers the headers only: a kept-alive connection serves its next request as before."""
    with httpx.Client(base_url=base_url) as client:
        for _ in range(2):
            assert client.get("/healthz").status_code == 200


def test_an_anonymous_body_is_refused_before_it_is_sent(base_url: str) -> None:
    """A client that declares most of the body limit and stalls no longer holds that memory: 401 at once."""
    declared = BODY_LIMIT - 1024
    with connect(base_url) as connection:
        connection.sendall(
            b"POST /graphql HTTP/1.1\r\nHost: dealgraph\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {declared}\r\n\r\n".encode()
            + b'{"query": "'
            + b"x" * 4096
        )
        answer, _ = answer_until_closed(connection)
    assert answer.startswith(b"HTTP/1.1 401 ") and b"UNAUTHENTICATED" in answer, answer


async def test_a_websocket_message_over_the_body_limit_is_refused_by_the_protocol(
    base_url: str, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    async with server_client(base_url) as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await authenticate(ws, who.api_key)
            await ws.send_text('{"type": "ping", "pad": "' + "x" * (2 * BODY_LIMIT) + '"}')
            with pytest.raises(WebSocketDisconnect) as closed:
                await ws.receive_json(timeout=10)
    assert closed.value.code == MESSAGE_TOO_BIG
