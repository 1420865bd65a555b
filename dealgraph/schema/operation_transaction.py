"""One tenant transaction per GraphQL query over HTTP, shared by its resolvers and DataLoaders.

Each loader used to open its own transaction (BEGIN, role and tenant, query, COMMIT): four
transactions for a deal page with accounts and transcripts. A query operation now opens one on its
first read and commits it when execution ends, so its statements are the data plus BEGIN, the
scope statement and COMMIT. Row-level security is unchanged: the transaction is a tenant
transaction of the caller's tenant like any other (see `dealgraph.db.session`).

Not shared:
- mutations: each action keeps its own transaction, so a failed field saves nothing and the fields
  before it stay saved (as the GraphQL spec's serial execution leads clients to expect);
- subscriptions: they live for hours; each snapshot or event read takes a short transaction;
- operations over a WebSocket: they run concurrently on one shared context.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from dealgraph.db.session import OperationTransaction
from dealgraph.schema.context import Context


class SharedTransaction(SchemaExtension):
    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if not (
            isinstance(context, Context)
            and context.principal is not None
            and isinstance(context.request, Request)
            and execution.operation_type is OperationType.QUERY
        ):
            yield
            return
        transaction = OperationTransaction(context.database, context.principal.tenant_id)
        context.share_transaction(transaction)
        try:
            yield
        except BaseException as error:  # cancelled (client gone): roll back
            await transaction.close(error)
            raise
        await transaction.close()
