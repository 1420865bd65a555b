"""Queries over accounts, deals and transcripts answered by one SQL statement, without a resolver per field.

A page of 20 deals with their accounts and three transcripts each is about 500 fields. Resolved one by
one (strawberry, graphql-core, a DataLoader per relation, three data statements in a transaction) that
cost about 10 ms of CPU per request, against about 1 ms for PostGraphile, which compiles the whole
selection into one statement. This extension does the same for the part of the schema where most
reads go: when every root field of a query is a plain list of deals, accounts or transcripts, and
everything selected below them is a column, a relation between those three, a connection's edges,
cursors and page info, a deal's `health` and `qualification` (the board's: made from the stored health row and
the MEDDPICC results read in the same statement, as their resolvers make them, and written field by field as
long as no field below has a resolver of its own), or `__typename`, the selection becomes one
`graph_reads.ListRead` tree, one statement on the read pool (`dealgraph.db.read_pool`: no transaction, the
tenant set once per connection), and the response is written straight from its rows.

Anything else runs as before: it is decided before a single row is read, so the two paths never mix in
one response. That includes filters, `search`, `totalCount`, `last`/`before`, unusual directives, and
every input the resolvers would refuse (a bad cursor, `first` out of range, a variable of the wrong
type): those fall back so that the error is exactly the usual one. What is answered here is what the
resolvers would answer, byte for byte: leaves go through the schema's own serializers, ids are the
same global ids, cursors the same cursors (tests/test_compiled_reads.py compares both paths over
every field, order, page and fragment form). Row-level security applies as to every read, under the
caller's tenant.

Off with `DEALGRAPH_COMPILED_READS=false`.

>>> schema = strawberry.Schema(query=Query, extensions=[..., CompiledReads])
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from typing import Any

import asyncpg
from graphql import DocumentNode, ExecutionResult, FieldNode, GraphQLError, GraphQLSchema, OperationType
from graphql.utilities import get_operation_ast
from starlette.requests import Request
from strawberry.extensions import SchemaExtension

from dealgraph.db.read_pool import BROKEN_CONNECTION
from dealgraph.db.repositories.graph_reads import read_lists
from dealgraph.errors import TooManyRequests
from dealgraph.schema.compiled_reads.planner import ROOT_NAMES, Planner, argument_value
from dealgraph.schema.compiled_reads.writing import Unanswerable
from dealgraph.schema.context import Context
from dealgraph.schema.strawberry_overrides import graphql_core_schema

log = logging.getLogger(__name__)


async def answer(
    context: Context,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: Mapping[str, Any] | None,
) -> ExecutionResult | None:
    """The operation's result from one statement, or None when it must run through the resolvers."""
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.QUERY or context.principal is None:
        return None
    if any(isinstance(s, FieldNode) and s.name.value not in ROOT_NAMES for s in operation.selection_set.selections):
        return None  # the common case of a query that is not ours, decided without planning
    given = variables or {}
    merged = {  # what the executor would see: variables given, else their defaults
        definition.variable.name.value: given.get(
            definition.variable.name.value,
            None if definition.default_value is None else argument_value(definition.default_value, {}),
        )
        for definition in operation.variable_definitions or ()
    }
    try:
        plan = Planner(schema, document, merged, context.settings.max_page_size).plan(operation)
        pages = await read_lists(context.database, context.principal.tenant_id, tuple(plan.lists), plan.positions)
        data: dict[str, Any] = {}
        for key, writer in plan.writers:
            if isinstance(writer, str):
                data[key] = writer
            else:
                index, connection = writer
                data[key] = connection.write(pages[index])
        return ExecutionResult(data=data)
    except (Unanswerable, asyncpg.PostgresConnectionError, *BROKEN_CONNECTION, OSError):
        return None  # not ours, or the database is unreachable: the usual path reports it as usual
    except asyncpg.PostgresError as error:  # never expected: say so, and let the resolvers answer
        log.warning("a compiled read failed (%s: %s); answered through the resolvers", type(error).__name__, error)
        return None
    except TooManyRequests as busy:  # the tenant holds all its connections: as a resolver reports it
        assert plan.first_list is not None
        key, node = plan.first_list
        return ExecutionResult(data=None, errors=[GraphQLError(busy.message, node, path=[key], original_error=busy)])


class CompiledReads(SchemaExtension):
    """Put it last: the operation is logged, its tenant's slots held and its errors presented as for any other."""

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            execution.result is None  # not already answered (a refusal of an earlier extension)
            and isinstance(context, Context)
            and isinstance(context.request, Request)
            and context.settings.compiled_reads
            and execution.graphql_document is not None
        ):
            execution.result = await answer(
                context,
                graphql_core_schema(execution.schema),
                execution.graphql_document,
                execution.operation_name,
                execution.variables,
            )
        yield
