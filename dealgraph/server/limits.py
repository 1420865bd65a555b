"""Per-request complexity limits, refused before any resolver runs.

Strawberry's own extensions do the counting (tokens while parsing, depth and aliases while
validating); these wrappers only give their refusals the QUERY_TOO_COMPLEX code and name the
setting, so a client can tell "too big" from "wrong" and an operator knows which knob it is.
The HTTP body limit lives in `dealgraph.server.body_limit` (it must act before parsing JSON).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import strawberry
from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError
from graphql.validation import ASTValidationContext
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.add_validation_rules import AddValidationRules

from dealgraph.config import Settings
from dealgraph.errors import ErrorCode
from dealgraph.schema.strawberry_overrides import provided_operation_name
from dealgraph.schema.text_guard import DOCUMENT_CACHE_SIZE
from dealgraph.server.cost import QueryCostLimiter
from dealgraph.server.document_shape import shape_errors
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


class TokenLimiter(MaxTokensLimiter):
    """`MaxTokensLimiter` whose refusal (a syntax error from the parser) reads as QUERY_TOO_COMPLEX."""

    def __init__(self, max_token_count: int, setting: str) -> None:
        super().__init__(max_token_count)
        self.setting = setting

    def on_parse(self) -> Iterator[None]:
        yield
        # Strawberry hands the parser's own error object on to the result: re-code it in place.
        marker = f"more than {self.max_token_count} tokens"
        for error in self.execution_context.pre_execution_errors or ():
            if isinstance(error, GraphQLSyntaxError) and marker in error.message:
                recoded_error = too_complex(error, self.setting)
                error.message, error.extensions = recoded_error.message, recoded_error.extensions


class DocumentCache(ParserCache):
    """ParserCache that leaves a document it cannot parse to strawberry's own parse step.

    That step turns the syntax error into the response's error (which the token limiter re-codes);
    raised from this hook instead, it would escape as an uncoded error. Errors are not cached anyway.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(context.query, **context.parse_options)
        yield


class ShapeCheckedValidationCache(ValidationCache):
    """ValidationCache that first refuses what validating would choke on (`document_shape`).

    Setting the errors here also skips strawberry's own validation step and the cost rule, which
    run only when no errors were set before them.
    """

    def __init__(self, maxsize: int, max_selections: int, setting: str) -> None:
        super().__init__(maxsize=maxsize)
        self.max_selections = max_selections
        self.setting = setting

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        assert context.graphql_document is not None
        # the name the client sent: strawberry's `operation_name` falls back to the first operation's
        given_name = provided_operation_name(context)
        if errors := shape_errors(context.graphql_document, given_name, self.max_selections, self.setting):
            context.pre_execution_errors = errors
            yield
        else:
            yield from super().on_validate()


def limit_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories (one fresh extension per operation) that go before the schema's own extensions.

    Parsed and validated documents are cached (strawberry's ParserCache, ValidationCache): validation
    was a sixth of a small query's CPU. The parser cache follows the token limiter, whose parse options
    it passes on. ValidationCache is keyed by document and rule classes, so the depth and alias rules
    are built once here, not per operation. See `validation_extensions` for the rest.
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
        lambda: TokenLimiter(settings.max_query_tokens, f"DEALGRAPH_MAX_QUERY_TOKENS={settings.max_query_tokens}"),
        lambda: DocumentCache(maxsize=DOCUMENT_CACHE_SIZE),
        lambda: AddValidationRules(static_rules),
    ]


def validation_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories that go after every extension adding validation rules.

    ValidationCache validates in its own hook, so rules added by a later extension would be skipped.
    The cost limiter comes after it: its rule depends on the variables, so it checks the cost alone,
    uncached, once the cached validation passed. A document may expand through its fragments to
    `EXPANSION_PER_TOKEN` selections per token allowed (fragments shared by many parts of a page).
    """
    max_selections = settings.max_query_tokens * EXPANSION_PER_TOKEN
    tokens_setting = f"DEALGRAPH_MAX_QUERY_TOKENS={settings.max_query_tokens}"
    return [
        lambda: ShapeCheckedValidationCache(DOCUMENT_CACHE_SIZE, max_selections, tokens_setting),
        lambda: QueryCostLimiter(
            settings.max_query_cost,
            DEFAULT_PAGE_SIZE,
            settings.max_page_size,
            f"DEALGRAPH_MAX_QUERY_COST={settings.max_query_cost}",
        ),
    ]


def with_limits(schema: strawberry.Schema, settings: Settings) -> strawberry.Schema:
    """The schema with the settings' limits around its own extensions (which see their refusals).

    Strawberry converts types once per class (a second Schema over the same Query fails), so each
    app gets a shallow copy that shares the converted types and has its own extension list.
    """
    limited = copy.copy(schema)
    limited.extensions = (*limit_extensions(settings), *schema.extensions, *validation_extensions(settings))
    return limited
