"""Subscriptions are served over WebSocket only; over plain HTTP they get a clear refusal.

Without this, strawberry would execute the subscription like a query over HTTP and the resolver's
async generator would surface as an opaque INTERNAL_SERVER_ERROR.
"""

from __future__ import annotations

from collections.abc import Iterator

from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from dealgraph.errors import ApiError

MESSAGE = (
    "Subscriptions are not served over plain HTTP: open a WebSocket to /graphql with the "
    "'graphql-transport-ws' subprotocol and send the subscription there."
)


class SubscriptionOverHttp(ApiError):
    code = "SUBSCRIPTION_REQUIRES_WEBSOCKET"


class SubscriptionsOverWebSocketOnly(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.SUBSCRIPTION and not isinstance(
            getattr(context.context, "request", None), WebSocket
        ):
            raise SubscriptionOverHttp(MESSAGE)
        yield
