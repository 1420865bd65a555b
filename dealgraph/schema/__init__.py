"""The GraphQL schema: one module per domain, assembled here."""

from __future__ import annotations

from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from dealgraph.schema.compiled_reads import CompiledReads
from dealgraph.schema.errors import PresentErrors
from dealgraph.schema.extension_runner import PreparedHooksRunner
from dealgraph.schema.health import DealHealthChanged
from dealgraph.schema.http_subscriptions import SubscriptionsOverWebSocketOnly
from dealgraph.schema.mutation import Mutation
from dealgraph.schema.operation_log import OperationLog
from dealgraph.schema.operation_telemetry import OperationTelemetry
from dealgraph.schema.operation_transaction import SharedTransaction
from dealgraph.schema.persisted_queries import PersistedQueries
from dealgraph.schema.proposals import ProposalsChanged
from dealgraph.schema.query import Query
from dealgraph.schema.scalars import SCALAR_OVERRIDES
from dealgraph.schema.shared_events import SharedEventExecution
from dealgraph.schema.subscription import Subscription
from dealgraph.schema.text_guard import RejectUnstorableText


class FreshLoaders(SchemaExtension):
    """Each operation gets its own DataLoader caches; a WebSocket connection shares one context.

    An HTTP operation's loaders are dropped when it ends: graphql-core's execution context is a
    reference cycle that holds the context, and the rows would otherwise wait for the garbage collector.
    """

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if getattr(context, "principal", None) is not None:
            context.reset_loaders()
        yield
        if isinstance(getattr(context, "request", None), Request):
            context.reset_loaders()


class DealgraphSchema(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        """Hooks prepared once per extension class, not once per operation (see `extension_runner`)."""
        return PreparedHooksRunner(execution_context=execution_context, extensions=extensions)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Log nothing here: strawberry's default logs every client mistake at ERROR with a traceback.

        `PresentErrors` logs each masked internal error once, with the request id, instead.
        """


schema = DealgraphSchema(
    query=Query,
    mutation=Mutation,
    subscription=Subscription,
    types=[DealHealthChanged, ProposalsChanged],  # reached only through the DealEvent interface
    extensions=[
        PersistedQueries,  # first: the others see the document a hash stands for
        SubscriptionsOverWebSocketOnly,
        OperationTelemetry,  # before: it sees the errors as presented, with their codes
        PresentErrors,
        FreshLoaders,
        RejectUnstorableText,
        OperationLog,
        SharedTransaction,
        CompiledReads,  # last: the operation is logged and scoped as any other before it answers
    ],
    scalar_overrides=SCALAR_OVERRIDES,
    execution_context_class=SharedEventExecution,  # a live event executed once for all its subscribers
)
