"""Every use of a strawberry internal, in one place: what strawberry keeps private and dealgraph needs.

Each is used only where strawberry has no public way to the same thing. tests/test_library_overrides.py
checks them against the installed strawberry (and names its version when one moves), and pyproject.toml
bounds strawberry-graphql to the versions checked: a new release is taken by raising the bound once that
test passes.
"""

from __future__ import annotations

from graphql import GraphQLError, GraphQLSchema
from strawberry.extensions import MaskErrors
from strawberry.schema import Schema
from strawberry.types import ExecutionContext


def graphql_core_schema(schema: Schema) -> GraphQLSchema:
    """The graphql-core schema strawberry builds (`Schema._schema`).

    What graphql-core's own functions take (validation rules, operation lookup, type maps); strawberry
    hands it to extensions only inside its private attribute."""
    return schema._schema


def provided_operation_name(context: ExecutionContext) -> str | None:
    """The operation name the client sent (`ExecutionContext._provided_operation_name`).

    The public `operation_name` falls back to the name of the document's first operation, which hides
    whether the client named one: a document of several operations needs a name."""
    return context._provided_operation_name


class MaskErrorsWithoutProtocolCheck(MaskErrors):
    """`MaskErrors` minus its `isinstance` against a runtime-checkable Protocol on every result (about 25 µs
    per operation, for a result that has no errors in most cases); masking itself stays strawberry's
    (`should_mask_error`, `anonymise_error`). Overrides `MaskErrors._process_result`."""

    def _process_result(self, result: object) -> None:
        errors: list[GraphQLError] | None = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)  # type: ignore[attr-defined]
