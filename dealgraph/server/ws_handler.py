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
"""

from __future__ import annotations

from contextlib import suppress
from typing import Protocol, cast

from graphql import GraphQLError
from starlette.websockets import WebSocket, WebSocketState
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage

from dealgraph.db.outage import is_outage
from dealgraph.db.repositories.tenancy import Principal
from dealgraph.errors import TooManyRequests
from dealgraph.schema.context import Context
from dealgraph.server.recycle import Recycler
from dealgraph.server.ws_admission import PendingSockets
from dealgraph.server.ws_registry import LiveSockets

REVOKED_CODE, REVOKED_REASON = 4403, "API key revoked"
TRY_AGAIN_LATER_CODE = 1013
_MAX_CLOSE_REASON = 123  # bytes a close frame's reason may hold
TOO_MANY_PENDING_REASON = "Too many WebSockets without connection_init from this address"
UNAVAILABLE = GraphQLError(
    "The database cannot be reached; try the operation again shortly.", extensions={"code": "SERVICE_UNAVAILABLE"}
)


class WebSocketPolicy(Protocol):
    """What the handler needs from the view."""

    live_sockets: LiveSockets
    pending_sockets: PendingSockets
    recycler: Recycler | None

    async def reauthenticate(self, context: Context) -> Principal | None: ...


class DealgraphTransportWSHandler(BaseGraphQLTransportWSHandler[Context, None]):
    context: Context
    _pending_address: str | None = None
    _revoked = False

    @property
    def _policy(self) -> WebSocketPolicy:
        return cast(WebSocketPolicy, self.view)

    async def handle(self) -> None:
        client = self.context.request.client
        address = client.host if client else "unknown"
        if not self._policy.pending_sockets.admit(address):
            await self.websocket.close(TRY_AGAIN_LATER_CODE, TOO_MANY_PENDING_REASON)
            return
        self._pending_address = address
        try:
            await super().handle()
        finally:
            self._release_pending()
            if self.context.principal is not None:
                self._policy.live_sockets.discard(self.context.principal.api_key_id, self)
                if (recycler := self._policy.recycler) is not None:
                    recycler.socket_left(len(self._policy.live_sockets))

    def _release_pending(self) -> None:
        if self._pending_address is not None:
            self._policy.pending_sockets.release(self._pending_address)
            self._pending_address = None

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        self._release_pending()
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
            self._policy.live_sockets.add(self.context.principal.api_key_id, self)
            if (recycler := self._policy.recycler) is not None:
                recycler.socket_joined(len(self._policy.live_sockets))

    async def _close_busy(self, reason: str) -> None:
        """1013 (try again later) instead of an internal error: the key could not be checked just now."""
        with suppress(RuntimeError, OSError):  # the client may have gone in the meantime
            await self.websocket.close(TRY_AGAIN_LATER_CODE, reason[:_MAX_CLOSE_REASON])

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
                await self.websocket.close(REVOKED_CODE, REVOKED_REASON)
