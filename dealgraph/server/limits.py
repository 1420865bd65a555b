"""Per-request complexity limits, refused before any resolver runs.

The document's length is checked before parsing; graphql-core counts tokens (and nesting) while
parsing, strawberry's extensions depth and aliases while validating. These wrappers give their
refusals the QUERY_TOO_COMPLEX code and name the setting, so a client can tell "too big" from
"wrong" and an operator knows which knob it is.
The HTTP body limit lives in `dealgraph.server.body_limit` (it must act before parsing JSON).
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from typing import Any

import strawberry
from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSyntaxError,
    NameNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
)
from graphql.validation import ASTValidationContext
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter, SchemaExtension
from strawberry.extensions.add_validation_rules import AddValidationRules

from dealgraph.config import Settings
from dealgraph.errors import ErrorCode
from dealgraph.schema.strawberry_overrides import provided_operation_name
from dealgraph.server.cost import QueryCostLimiter
from dealgraph.server.document_shape import shape_errors
from dealgraph.server.documents import Documents
from dealgraph.services.pagination import DEFAULT_PAGE_SIZE

EXPANSION_PER_TOKEN = 5


def too_complex(error: GraphQLError, setting: str) -> GraphQLError:
    return GraphQLError(
        f"Query too complex: {error.message.removeprefix('Syntax Error: ')} ({setting}).",
        error.nodes,
        error.source,
        error.positions,
        extensions={**(error.extensions or {}), "code": ErrorCode.QUERY_TOO_COMPLEX},
    )


def stand_in_document(operation_name: str | None) -> DocumentNode:
    """An operation strawberry can take the type of, in place of a document that was refused.

    Strawberry parses the text itself when no document was set, and an error raised from the parse
    hook escapes a WebSocket operation uncaught; so a refused document is replaced by this one, with
    the refusal as the operation's errors, which ends it before validation (under the client's
    `operationName`, so looking the operation up succeeds).
    """
    name = NameNode(value=operation_name) if operation_name is not None else None
    typename = FieldNode(name=NameNode(value="__typename"), arguments=(), directives=())
    operation = OperationDefinitionNode(
        operation=OperationType.QUERY,
        name=name,
        variable_definitions=(),
        directives=(),
        selection_set=SelectionSetNode(selections=(typename,)),
    )
    return DocumentNode(definitions=(operation,))


class _ReportingAs:
    """A validation context whose reported errors are re-coded; everything else is the real one."""

    def __init__(self, context: ASTValidationContext, setting: str) -> None:
        self._context = context
        self._setting = setting

    def __getattr__(self, name: str) -> Any:
        return getattr(self._context, name)

    def report_error(self, error: GraphQLError) -> None:
        self._context.report_error(too_complex(error, self._setting))


def _recoded(rule: type[ASTValidationRule], setting: str) -> type[ASTValidationRule]:
    base: Any = rule  # mypy cannot take a base class chosen at run time; the return type keeps callers checked

    class Recoded(base):
        def __init__(self, context: ASTValidationContext) -> None:
            super().__init__(_ReportingAs(context, setting))

    return Recoded


def recoded(extension: AddValidationRules, setting: str) -> AddValidationRules:
    extension.validation_rules = [_recoded(rule, setting) for rule in extension.validation_rules]
    return extension


class BoundedParse(SchemaExtension):
    """Parses the operation's document (see `dealgraph.server.documents`): its length is checked first.

    The parser's own refusals of too many tokens and of too deep nesting read as QUERY_TOO_COMPLEX.
    """

    def __init__(self, documents: Documents, settings: Settings) -> None:
        self.documents = documents
        self.max_chars = settings.max_query_chars
        self.chars_setting = f"DEALGRAPH_MAX_QUERY_CHARS={settings.max_query_chars}"
        self.tokens_setting = f"DEALGRAPH_MAX_QUERY_TOKENS={settings.max_query_tokens}"
        self.depth_setting = f"DEALGRAPH_MAX_QUERY_DEPTH={settings.max_query_depth}"

    async def on_parse(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.query and context.graphql_document is None:  # no text at all: strawberry's own error
            try:
                context.graphql_document = await self._parse(context.query)
            except GraphQLError as refusal:
                context.pre_execution_errors = [refusal]
                context.graphql_document = stand_in_document(provided_operation_name(context))
        yield

    async def _parse(self, query: str) -> DocumentNode:
        if len(query) > self.max_chars:
            raise GraphQLError(
                f"Query too complex: the document is {len(query)} characters long, more than {self.max_chars} "
                f"({self.chars_setting}).",
                extensions={"code": ErrorCode.QUERY_TOO_COMPLEX},
            )
        try:
            return await self.documents.parse(query)
        except GraphQLSyntaxError as error:
            if f"more than {self.documents.max_tokens} tokens" in error.message:
                raise too_complex(error, self.tokens_setting) from None
            if "nested too deeply" in error.message:
                raise too_complex(error, self.depth_setting) from None
            raise


class ShapeCheckedValidation(SchemaExtension):
    """Validates through the app's cache, after refusing what validating would choke on (`document_shape`).

    Setting the errors here also skips strawberry's own validation step and the cost rule, which
    run only when no errors were set before them.
    """

    def __init__(self, documents: Documents, max_selections: int, setting: str) -> None:
        self.documents = documents
        self.max_selections = max_selections
        self.setting = setting

    async def on_validate(self) -> AsyncIterator[None]:
        context = self.execution_context
        if context.pre_execution_errors:  # refused while parsing
            yield
            return
        assert context.graphql_document is not None and context.query is not None
        # the name the client sent: strawberry's `operation_name` falls back to the first operation's
        given_name = provided_operation_name(context)
        if errors := shape_errors(context.graphql_document, given_name, self.max_selections, self.setting):
            context.pre_execution_errors = errors
        else:
            context.pre_execution_errors = await self.documents.validate(
                context.schema._schema, context.query, context.graphql_document, context.validation_rules
            )
        yield


def limit_extensions(settings: Settings, documents: Documents) -> list[Callable[[], SchemaExtension]]:
    """Factories (one fresh extension per operation) that go before the schema's own extensions.

    Parsed and validated documents are cached (`documents`): validation was a sixth of a small query's
    CPU. Validation results are keyed by text and rule classes, so the depth and alias rules are built
    once here, not per operation. See `validation_extensions` for the rest.
    """
    static_rules = [
        *recoded(
            QueryDepthLimiter(max_depth=settings.max_query_depth),
            f"DEALGRAPH_MAX_QUERY_DEPTH={settings.max_query_depth}",
        ).validation_rules,
        *recoded(
            MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
            f"DEALGRAPH_MAX_QUERY_ALIASES={settings.max_query_aliases}",
        ).validation_rules,
    ]
    return [
        lambda: BoundedParse(documents, settings),
        lambda: AddValidationRules(static_rules),
    ]


def validation_extensions(settings: Settings, documents: Documents) -> list[Callable[[], SchemaExtension]]:
    """Factories that go after every extension adding validation rules.

    `ShapeCheckedValidation` validates in its own hook, so rules added by a later extension would be skipped.
    The cost limiter comes after it: its rule depends on the variables, so it checks the cost alone,
    uncached, once the cached validation passed. A document may expand through its fragments to
    `EXPANSION_PER_TOKEN` selections per token allowed (fragments shared by many parts of a page).
    """
    max_selections = settings.max_query_tokens * EXPANSION_PER_TOKEN
    tokens_setting = f"DEALGRAPH_MAX_QUERY_TOKENS={settings.max_query_tokens}"
    return [
        lambda: ShapeCheckedValidation(documents, max_selections, tokens_setting),
        lambda: QueryCostLimiter(
            settings.max_query_cost,
            DEFAULT_PAGE_SIZE,
            settings.max_page_size,
            f"DEALGRAPH_MAX_QUERY_COST={settings.max_query_cost}",
        ),
    ]


def with_limits(schema: strawberry.Schema, settings: Settings, documents: Documents) -> strawberry.Schema:
    """The schema with the settings' limits around its own extensions (which see their refusals).

    Strawberry converts types once per class (a second Schema over the same Query fails), so each
    app gets a shallow copy that shares the converted types and has its own extension list.
    """
    limited = copy.copy(schema)
    limited.extensions = (
        *limit_extensions(settings, documents),
        *schema.extensions,
        *validation_extensions(settings, documents),
    )
    return limited
