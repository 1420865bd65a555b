"""strawberry's graphql-transport-ws handler, with admission and revocation rules added.

- A socket counts as pending for its client address until `connection_init`; over the cap it is
  closed at once (1013, try again later).
- An acknowledged socket is registered under its API key, so a revoke closes it (4403) and cancels
  its operations (subscriptions end) wherever it is held.
- A `connection_init` whose key cannot be checked (no free database connection, database unreachable)
  closes the socket with 1013 (try again later), never an internal error.
- Every new operation re-authenticates the socket's key first: a revoke whose notification never
  arrived still stops the next query, mutation or subscription. While the database cannot be
  reached that operation gets an error (SERVICE_UNAVAILABLE) and the socket stays open.
- A message that is not what the protocol specifies (not a JSON object, JSON nested deeper than the
  decoder follows, a wrong-typed `type`, `id` or `subscribe` payload field) closes the socket with
  4400, the protocol's "invalid message", before strawberry indexes it: strawberry trusts the shape
  and would crash (no close code) or run the operation into an internal error.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping
from contextlib import suppress
from typing import Protocol, cast

from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState
from strawberry.http.async_base_view import AsyncWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    Message,
    SubscribeMessage,
)

from dealgraph.db.outage import is_outage
from dealgraph.db.repositories.tenancy import Principal
from dealgraph.errors import CloseCode, ErrorCode, TooManyRequests
from dealgraph.observability import metrics
from dealgraph.schema.context import Context
from dealgraph.server.recycle import Recycler
from dealgraph.server.ws_admission import PendingSockets
from dealgraph.server.ws_registry import LiveSockets

REVOKED_REASON = "API key revoked"
_MAX_CLOSE_REASON = 123  # bytes a close frame's reason may hold
_OPERATION_ID_MESSAGES = ("subscribe", "complete")
_OPTIONAL_SUBSCRIBE_FIELDS = {
    "operationName": (str, "a string"),
    "variables": (dict, "an object"),
    "extensions": (dict, "an object"),
}
TOO_MANY_PENDING_REASON = "Too many WebSockets without connection_init from this address"
UNAVAILABLE = GraphQLError(
    "The database cannot be reached; try the operation again shortly.",
    extensions={"code": ErrorCode.SERVICE_UNAVAILABLE},
)


def _malformation(message: object) -> str | None:
    """Why `message` is not a graphql-transport-ws message the handler can act on, or None."""
    if not isinstance(message, dict):
        return "WebSocket message must be a JSON object"
    kind = message.get("type")
    if not isinstance(kind, str):
        return "Message 'type' must be a string"  # an unknown string is strawberry's to refuse
    if kind in _OPERATION_ID_MESSAGES and not isinstance(message.get("id"), str):
        return f"'{kind}' message 'id' must be a string"
    if kind != "subscribe":
        return None
    payload = message.get("payload")
    if not isinstance(payload, dict):
        return "'subscribe' message 'payload' must be an object"
    if not isinstance(payload.get("query"), str):
        return "'subscribe' payload 'query' must be a string"
    for field, (expected, described) in _OPTIONAL_SUBSCRIBE_FIELDS.items():
        if not isinstance(payload.get(field), expected | None):
            return f"'subscribe' payload '{field}' must be {described} or null"
    return None


class _ClientProofSocket(AsyncWebSocketAdapter):
    """The view's socket adapter, hardened where strawberry passes client input through unchecked.

    A message longer than the HTTP body limit closes the socket (1009, message too big) before it is
    decoded: the limit on what a client may send does not depend on the transport. JSON nested deeper
    than the decoder follows raises RecursionError, and a number of more than 4,300 digits a ValueError
    that is not a JSONDecodeError: strawberry treats neither as invalid JSON. Close reasons may repeat
    client text ("Unknown message type: …"), and uvicorn's WebSocket library refuses a reason longer
    than a close frame holds instead of cutting it.
    """

    def __init__(self, adapter: AsyncWebSocketAdapter, socket: WebSocket, max_message_chars: int) -> None:
        super().__init__(adapter.view)
        self._adapter = adapter
        self._socket = socket
        self._max_message_chars = max_message_chars

    async def iter_json(self, *, ignore_parsing_errors: bool = False) -> AsyncGenerator[object, None]:
        """As strawberry's (text frames, decoded by the view), with the size check and every decoder failure.

        The graphql-transport-ws handler never asks to ignore parsing errors; the flag is the base's signature.
        """
        while self._socket.application_state is not WebSocketState.DISCONNECTED:
            try:
                text = await self._socket.receive_text()
            except KeyError as error:  # a binary frame
                raise NonTextMessageReceived from error
            except WebSocketDisconnect:
                return
            if len(text) > self._max_message_chars:
                limit = self._max_message_chars
                reason = f"Message longer than {limit} characters (DEALGRAPH_MAX_BODY_BYTES)"
                await self.close(CloseCode.MESSAGE_TOO_BIG, reason)
                return
            try:
                message = self.view.decode_json(text)
            except (RecursionError, ValueError) as error:  # the decoder stopped: no later message can be read either
                raise NonJsonMessageReceived from error
            yield message

    async def send_json(self, message: Mapping[str, object]) -> None:
        await self._adapter.send_json(message)

    async def close(self, code: int, reason: str) -> None:
        clipped = reason.encode(errors="replace")[:_MAX_CLOSE_REASON].decode(errors="ignore")
        await self._adapter.close(code, clipped)


class WebSocketPolicy(Protocol):
    """What the handler needs from the view."""

    live_sockets: LiveSockets
    pending_sockets: PendingSockets
    recycler: Recycler | None
    max_message_chars: int

    async def reauthenticate(self, context: Context) -> Principal | None: ...


class DealgraphTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    context: Context
    _pending_address: str | None = None
    _revoked = False
    _counted = False
    """Counted among the open WebSockets (`dealgraph_open_websockets`) since its acknowledgement."""

    @property
    def _policy(self) -> WebSocketPolicy:
        return cast(WebSocketPolicy, self.view)

    async def handle(self) -> None:
        socket = self.context.request
        assert isinstance(socket, WebSocket)
        self.websocket = _ClientProofSocket(self.websocket, socket, self._policy.max_message_chars)
        client = self.context.request.client
        address = client.host if client else "unknown"
        if not self._policy.pending_sockets.admit(address):
            await self.websocket.close(CloseCode.TRY_AGAIN_LATER, TOO_MANY_PENDING_REASON)
            return
        self._pending_address = address
        try:
            await super().handle()
        finally:
            self._release_pending()
            if self._counted:
                metrics.count_websocket(-1)
            if self.context.principal is not None:
                self._policy.live_sockets.discard(self.context.principal.api_key_id, self)
                if (recycler := self._policy.recycler) is not None:
                    recycler.socket_left(len(self._policy.live_sockets))

    def _release_pending(self) -> None:
        if self._pending_address is not None:
            self._policy.pending_sockets.release(self._pending_address)
            self._pending_address = None

    async def handle_message(self, message: object) -> None:
        """Anything but a message of the protocol's shape closes the socket (4400), as the protocol says."""
        if (malformation := _malformation(message)) is not None:
            await self.handle_invalid_message(malformation)
            return
        await super().handle_message(cast(Message, message))

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        """A null payload (the protocol allows it) carries no key: refused as a missing key is (4403), not 4400."""
        self._release_pending()
        if message.get("payload", {}) is None:
            message = {**message, "payload": {}}
        try:
            await super().handle_connection_init(message)
        except TooManyRequests as busy:  # no free connection to check the key: the client may retry, as told
            await self._close_busy(busy.message)
            return
        except Exception as error:
            if not is_outage(error):
                raise
            await self._close_busy(UNAVAILABLE.message)
            return
        if self.connection_acknowledged and self.context.principal is not None:
            self._counted = metrics.enabled()
            metrics.count_websocket(1)
            self._policy.live_sockets.add(self.context.principal.api_key_id, self)
            if (recycler := self._policy.recycler) is not None:
                recycler.socket_joined(len(self._policy.live_sockets))

    async def _close_busy(self, reason: str) -> None:
        """1013 (try again later) instead of an internal error: the key could not be checked just now."""
        with suppress(RuntimeError, OSError):  # the client may have gone in the meantime
            await self.websocket.close(CloseCode.TRY_AGAIN_LATER, reason)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        if self._revoked or (self.connection_acknowledged and not await self._may_operate(message["id"])):
            return
        await super().handle_subscribe(message)

    async def _may_operate(self, operation_id: str) -> bool:
        """Re-authenticate the socket's key before an operation; a revoked key closes the socket."""
        try:
            principal = await self._policy.reauthenticate(self.context)
        except TooManyRequests as busy:  # no free connection: this operation is refused, the socket stays
            refusal = GraphQLError(busy.message, extensions={"code": busy.code})
            await self.send_message({"id": operation_id, "type": "error", "payload": [refusal.formatted]})
            return False
        except Exception as error:
            if not is_outage(error):
                raise
            await self.send_message({"id": operation_id, "type": "error", "payload": [UNAVAILABLE.formatted]})
            return False
        if principal is None:
            await self.revoke()
            return False
        self.context.principal = principal  # a changed role applies from this operation on
        return True

    async def revoke(self) -> None:
        if self._revoked:
            return
        self._revoked = True
        for operation_id in list(self.operations):
            await self.cleanup_operation(operation_id)  # cancelled before the close: nothing more is sent
        socket = self.context.request
        assert isinstance(socket, WebSocket)
        if socket.application_state is WebSocketState.CONNECTED:
            with suppress(RuntimeError, OSError):  # the client may have gone in the meantime
                await self.websocket.close(CloseCode.API_KEY_REVOKED, REVOKED_REASON)
