"""Refuse text PostgreSQL cannot store (NUL) or UTF-8 cannot encode (lone surrogates) before execution.

GraphQL's built-in `String` scalar is reserved (graphql-core refuses a replacement), so instead this
extension checks every string an operation carries (variables, literal arguments, variable defaults)
once, before any resolver runs. Without it such a string reaches the driver and fails there as an
internal error, possibly after other writes of the same request. Subscriptions take only ids, which
fail to decode on their own.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    ListValueNode,
    ObjectValueNode,
    StringValueNode,
    ValueNode,
    VariableDefinitionNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension

from dealgraph.errors import BadUserInput
from dealgraph.schema.document_cache import SizedLru, cacheable, text_bytes
from dealgraph.validation import unstorable_reason

CHECKED_BYTES = 4 * 1024 * 1024
"""Bytes of document text whose literal check is kept per process (the result is a few bytes)."""


def _value_problems(value: Any, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, str):
        if reason := unstorable_reason(value):
            yield path, reason
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _value_problems(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _value_problems(item, f"{path}[{index}]")


def _literal_problems(node: ValueNode, path: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, StringValueNode):
        yield from _value_problems(node.value, path)
    elif isinstance(node, ObjectValueNode):
        for field in node.fields:
            yield from _literal_problems(field.value, f"{path}.{field.name.value}")
    elif isinstance(node, ListValueNode):
        for index, item in enumerate(node.values):
            yield from _literal_problems(item, f"{path}[{index}]")


class _LiteralCollector(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[tuple[str, str]] = []

    def enter_argument(self, node: ArgumentNode, *_: object) -> None:
        self.problems.extend(_literal_problems(node.value, node.name.value))

    def enter_variable_definition(self, node: VariableDefinitionNode, *_: object) -> None:
        if node.default_value is not None:
            self.problems.extend(_literal_problems(node.default_value, f"${node.variable.name.value}"))


def _document_problems(document: DocumentNode) -> tuple[tuple[str, str], ...]:
    collector = _LiteralCollector()
    visit(document, collector)
    return tuple(collector.problems)


_checked: SizedLru[str, tuple[tuple[str, str], ...]] = SizedLru(CHECKED_BYTES)
"""A document's literals are fixed by its text: checked once per distinct text, not per request.

Walking the document was a visible share of a small query's CPU."""


def _text_problems(query: str, document: DocumentNode) -> tuple[tuple[str, str], ...]:
    known = _checked.get(query)
    if known is None:
        known = _document_problems(document)
        if cacheable(query):
            _checked.put(query, known, text_bytes(query))
    return known


def _problems(
    query: str | None, document: DocumentNode | None, variables: dict[str, Any] | None
) -> list[tuple[str, str]]:
    """(where, why) for every string the operation must not carry; `where` is `$var.field` or `arg.field`."""
    problems = [p for name, value in (variables or {}).items() for p in _value_problems(value, f"${name}")]
    if document is not None:
        problems.extend(_text_problems(query, document) if query is not None else _document_problems(document))
    return problems


class RejectUnstorableText(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        """A result set here replaces execution (strawberry's short-circuit), and still gets its error code."""
        context = self.execution_context
        if problems := _problems(context.query, context.graphql_document, context.variables):
            refusal = BadUserInput(
                "Text must not contain NUL characters or unpaired surrogates: "
                + "; ".join(f"'{where}' contains {why}" for where, why in problems)
                + "."
            )
            context.result = ExecutionResult(data=None, errors=[GraphQLError(refusal.message, original_error=refusal)])
        yield
