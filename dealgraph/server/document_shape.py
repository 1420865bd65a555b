"""Refusals that must come before validation, because validating such a document is itself the attack.

Fragments multiply: forty fragments that each spread the previous one twice are under 500 tokens,
yet expand to 2^40 fields. graphql-core's rules visit each fragment once, but strawberry's depth
and alias limiters walk every spread into its fragment again, so their time doubles with each
level: 22 levels held the event loop for 10 s (every request of the process waited), 40 for ever.
The expansion is counted here with each fragment counted once, and a document that expands past
the limit is refused before any rule runs.

Several operations and no `operationName`: the spec asks for an error, but strawberry runs the
first operation (it defaults the name to the first operation's), which may not be what the client
meant to send.

Number literals: graphql-core turns an Int literal into a Python int, and Python refuses to
convert more than 4,300 digits (a ValueError, not a validation error). No scalar of the schema
takes a number anywhere near that long (Int is 32-bit, Decimal has 28 significant digits), so
longer literals are refused up front with a validation error.

    >>> from graphql import parse
    >>> expanded_selections(parse("{ a ...F } fragment F on Q { b c ...G } fragment G on Q { d }"))
    4
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    ArgumentNode,
    DocumentNode,
    FieldNode,
    FloatValueNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValueNode,
)

from dealgraph.errors import ErrorCode

MAX_NUMBER_LITERAL_CHARS = 100
"""Longer than any number the schema's scalars accept (Int: 11 characters; Decimal: 28 digits)."""


def expanded_selections(document: DocumentNode) -> int:
    """Selections the document's operations make once every fragment spread is replaced by its fragment.

    Linear in the document: each fragment's size is computed once. A spread of an unknown fragment, or
    one that closes a cycle, counts nothing here; validation reports it.
    """
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    sizes: dict[str, int] = {}
    visiting: set[str] = set()

    def fragment_size(name: str) -> int:
        if name in sizes:
            return sizes[name]
        fragment = fragments.get(name)
        if fragment is None or name in visiting:
            return 0
        visiting.add(name)
        sizes[name] = size(fragment.selection_set)
        visiting.discard(name)
        return sizes[name]

    def size(selection_set: SelectionSetNode | None) -> int:
        total = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                total += 1 + size(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                total += size(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                total += fragment_size(selection.name.value)
        return total

    return sum(size(d.selection_set) for d in document.definitions if isinstance(d, OperationDefinitionNode))


def oversized_number_literals(document: DocumentNode) -> Iterator[IntValueNode | FloatValueNode]:
    """Int and Float literals (in arguments and variable defaults) longer than `MAX_NUMBER_LITERAL_CHARS`."""
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            for variable in definition.variable_definitions or ():
                if variable.default_value is not None:
                    yield from _oversized(variable.default_value)
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            for argument in _arguments(definition.selection_set):
                yield from _oversized(argument.value)


def _arguments(selection_set: SelectionSetNode | None) -> Iterator[ArgumentNode]:
    for selection in selection_set.selections if selection_set else ():
        for directive in selection.directives or ():
            yield from directive.arguments or ()
        if isinstance(selection, FieldNode):
            yield from selection.arguments or ()
        if isinstance(selection, FieldNode | InlineFragmentNode):
            yield from _arguments(selection.selection_set)


def _oversized(value: ValueNode) -> Iterator[IntValueNode | FloatValueNode]:
    if isinstance(value, ListValueNode):
        for item in value.values:
            yield from _oversized(item)
    elif isinstance(value, ObjectValueNode):
        for field in value.fields:
            yield from _oversized(field.value)
    elif isinstance(value, IntValueNode | FloatValueNode) and len(value.value) > MAX_NUMBER_LITERAL_CHARS:
        yield value


def shape_errors(
    document: DocumentNode, operation_name: str | None, max_selections: int, setting: str
) -> list[GraphQLError]:
    """Why `document` is refused before validation (QUERY_TOO_COMPLEX or a validation error); [] if it is not."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None and len(operations) > 1:
        return [GraphQLError("Must provide operationName if the document contains multiple operations.")]
    expanded = expanded_selections(document)
    if expanded > max_selections:
        return [
            GraphQLError(
                f"Query too complex: its fragments expand to {expanded} selections, more than {max_selections} "
                f"({setting}).",
                extensions={"code": ErrorCode.QUERY_TOO_COMPLEX},
            )
        ]
    return [
        GraphQLError(
            f"Number literal too long ({len(literal.value)} characters; at most {MAX_NUMBER_LITERAL_CHARS}).",
            literal,
        )
        for literal in oversized_number_literals(document)
    ]
