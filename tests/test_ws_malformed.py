"""Malformed graphql-transport-ws messages close the socket with 4400 (the protocol's "invalid message"),
never with a crashed handler, and the server goes on serving the next connection."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from httpx_ws import aconnect_ws
from starlette.applications import Starlette

from dealgraph.standin import RunningStandin
from tests.analysis_support import ANALYSIS_EVENTS
from tests.processes import process_env, server
from tests.support import TenantFactory, authenticate, closed, connect_websocket, is_open, server_client, websocket

INVALID_MESSAGE = 4400
MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is 125 bytes at most, 2 of them the code
DEPTH = 100_000
VARIABLES = {"id": "QW5hbHlzaXM6MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"}


def _subscribe(payload: object, operation_id: object = "1") -> str:
    return json.dumps({"id": operation_id, "type": "subscribe", "payload": payload})


def _subscribe_with(**fields: Any) -> str:
    return _subscribe({"query": ANALYSIS_EVENTS, "variables": VARIABLES} | fields)


MALFORMED = {
    "array": ("[]", "WebSocket message must be a JSON object"),
    "null": ("null", "WebSocket message must be a JSON object"),
    "string": ('"subscribe"', "WebSocket message must be a JSON object"),
    "deep array": ("[" * DEPTH + "]" * DEPTH, "WebSocket message must be valid JSON"),
    "deep object": ('{"a":' * DEPTH + "1" + "}" * DEPTH, "WebSocket message must be valid JSON"),
    "huge number": (
        '{"type": "connection_init", "payload": {"n": ' + "9" * 5000 + "}}",
        "WebSocket message must be valid JSON",
    ),
    "type not a string": ('{"type": ["subscribe"]}', "Message 'type' must be a string"),
    "numeric id": (_subscribe({"query": ANALYSIS_EVENTS}, operation_id=1), "'subscribe' message 'id' must be a string"),
    "list id on complete": ('{"type": "complete", "id": []}', "'complete' message 'id' must be a string"),
    "null payload": (_subscribe(None), "'subscribe' message 'payload' must be an object"),
    "string payload": (_subscribe("x"), "'subscribe' message 'payload' must be an object"),
    "numeric query": (_subscribe_with(query=5), "'subscribe' payload 'query' must be a string"),
    "list variables": (_subscribe_with(variables=[1]), "'subscribe' payload 'variables' must be an object or null"),
    "numeric operationName": (
        _subscribe_with(operationName=5),
        "'subscribe' payload 'operationName' must be a string or null",
    ),
    "list extensions": (_subscribe_with(extensions=[]), "'subscribe' payload 'extensions' must be an object or null"),
}


@pytest.mark.parametrize(("text", "reason"), MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_message_closes_with_invalid_message(
    app: Starlette, tenants: TenantFactory, text: str, reason: str
) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        await ws.send_text(text)
        close, _ = await closed(ws, timeout=10)
    assert (close.code, close.reason) == (INVALID_MESSAGE, reason)
    async with websocket(app, who.api_key) as after:  # the server still serves the next connection
        assert await is_open(after)


@pytest.mark.processes
async def test_unknown_message_type_of_any_length_closes_a_real_server_socket_with_invalid_message(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    """strawberry's reason repeats the type; a close frame holds 123 bytes of reason, and uvicorn's
    WebSocket library refuses a longer one (the handler crashed) where the test transport would cut it."""
    who = await tenants.create()
    with server(process_env(database_url, standin_server.base_url, analysis_slots="0")) as base_url:
        async with server_client(base_url) as client:
            async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
                await authenticate(ws, who.api_key)
                await ws.send_json({"type": "é" * 200})
                close, _ = await closed(ws, timeout=10)
    assert close.code == INVALID_MESSAGE
    assert close.reason.startswith("Unknown message type: éé")
    assert len(close.reason.encode()) <= MAX_CLOSE_REASON_BYTES


async def test_an_operation_name_the_document_lacks_is_a_validation_error(
    app: Starlette, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        await ws.send_text(_subscribe_with(operationName="Nope"))
        message = await ws.receive_json()
    assert message["type"] == "error" and message["id"] == "1"
    assert message["payload"] == [
        {"message": 'Unknown operation named "Nope".', "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"}}
    ]


FORBIDDEN = 4403  # graphql-transport-ws: the server refused the connection_init (no or bad key)


@pytest.mark.parametrize(
    "init",
    [
        '{"type": "connection_init", "payload": {"authorization": "Bearer dg_\\ud800"}}',
        '{"type": "connection_init", "payload": {"authorization": "Bearer d\\u00e9g"}}',
        '{"type": "connection_init", "payload": null}',
        '{"type": "connection_init"}',
    ],
    ids=["lone-surrogate", "not-ascii", "null-payload", "no-payload"],
)
async def test_a_key_that_cannot_be_one_closes_4403_like_any_bad_key(
    app: Starlette, tenants: TenantFactory, init: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate raised UnicodeEncodeError (an ERROR traceback, no close frame); a null payload closed 4400."""
    async with connect_websocket(app) as ws:
        await ws.send_text(init)
        close, _ = await closed(ws, timeout=10)
    assert close.code == FORBIDDEN
    assert not [record for record in caplog.records if record.levelno >= logging.ERROR]
