"""The GraphQL schema: one module per domain, assembled here."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionContext

from dealgraph.schema.mutation import Mutation
from dealgraph.schema.query import Query
from dealgraph.schema.scalars import SCALAR_OVERRIDES
from dealgraph.schema.subscription import Subscription
from dealgraph.server.errors import PresentErrors
from dealgraph.server.http_subscriptions import SubscriptionsOverWebSocketOnly
from dealgraph.server.operation_log import OperationLog
from dealgraph.server.operation_transaction import SharedTransaction
from dealgraph.server.text_guard import RejectUnstorableText


class FreshLoaders(SchemaExtension):
    """Each operation gets its own DataLoader caches; a WebSocket connection shares one context."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "principal", None) is not None:
            context.reset_loaders()
        yield


class DealgraphSchema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log nothing here: strawberry's default logs every client mistake at ERROR with a traceback.

        `PresentErrors` logs each masked internal error once, with the request id, instead.
        """


schema = DealgraphSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    extensions=[
        SubscriptionsOverWebSocketOnly, PresentErrors, FreshLoaders, RejectUnstorableText, OperationLog, SharedTransaction,
    ],
    scalar_overrides=SCALAR_OVERRIDES,  # type: ignore[arg-type]
)
