"""Subscriptions are served over WebSocket only; over plain HTTP they get a clear refusal.

Without this, strawberry would execute the subscription like a query over HTTP and the resolver's
async generator would surface as an opaque INTERNAL_SERVER_ERROR. The refusal is a validation
error, so it comes back like other request errors (no execution, 400 with graphql-response+json).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, ValidationContext, ValidationRule
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from dealgraph.errors import ErrorCode

MESSAGE = (
    "Subscriptions are not served over plain HTTP: open a WebSocket to /graphql with the "
    "'graphql-transport-ws' subprotocol and send the subscription there."
)


class _RefuseSubscription(ValidationRule):
    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        context.report_error(GraphQLError(MESSAGE, extensions={"code": ErrorCode.SUBSCRIPTION_REQUIRES_WEBSOCKET}))


class SubscriptionsOverWebSocketOnly(SchemaExtension):
    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.operation_type is OperationType.SUBSCRIPTION and not isinstance(
            getattr(context.context, "request", None), WebSocket
        ):
            context.validation_rules = (*context.validation_rules, _RefuseSubscription)
        yield
