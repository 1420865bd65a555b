"""GraphQL objects read off database rows by one rule, instead of a hand-written copy per type.

Every field of a row type without a resolver is the row's column of the same name (or the one its
`metadata=column(...)` names); a stored enum value becomes the field's enum member, and `id` is the
primary key as text. `compiled_reads` answers
these same fields straight from SQL by the same rule (`stored_value`), so both paths agree by
construction. A field that is not a column gets a resolver reading `self.row`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from strawberry.types.base import StrawberryList, has_object_definition
from strawberry.types.enum import StrawberryEnumDefinition
from strawberry.types.field import StrawberryField

ROW = "row"
"""The private field every row type keeps its row in, for its resolvers."""
_COLUMN = "dealgraph.column"


def column(name: str) -> dict[str, str]:
    """`strawberry.field(metadata=...)` of a field whose column has another name than the field."""
    return {_COLUMN: name}


def column_of(field: StrawberryField) -> str:
    """The column a field without a resolver is read from."""
    return str(field.metadata.get(_COLUMN, field.python_name))


def stored_value(field_type: Any) -> Callable[[Any], Any]:
    """What a column's stored value needs to be a field's value: its enum's member (or members), else nothing."""
    inner = getattr(field_type, "of_type", field_type)
    if isinstance(inner, StrawberryEnumDefinition):
        wrapped: Any = inner.wrapped_cls
        return lambda value: value if value is None or isinstance(value, wrapped) else wrapped(value)
    return _as_is


def _as_is(value: Any) -> Any:
    return value


def _field_value(name: str, field_type: Any) -> Callable[[Any], Any]:
    if name == "id":
        return str
    convert = stored_value(field_type)
    if isinstance(field_type, StrawberryList) and convert is not _as_is:
        return lambda values: [convert(value) for value in values]
    return convert


_Reads = tuple[tuple[str, str, Callable[[Any], Any]], ...]
_READS: dict[type, _Reads] = {}


def _columns(cls: type) -> _Reads:
    """(field, column, conversion) of every field of `cls` read off its row; worked out once per type."""
    reads = _READS.get(cls)
    if reads is None:
        assert has_object_definition(cls), cls
        reads = _READS[cls] = tuple(
            (field.python_name, column_of(field), _field_value(field.python_name, field.type))
            for field in cls.__strawberry_definition__.fields
            if field.base_resolver is None and field.python_name != ROW
        )
    return reads


class FromRow:
    """Mixin of a strawberry type declaring `row: strawberry.Private[<model>]`: `from_row` builds it by the rule."""

    @classmethod
    def from_row(cls, row: Any) -> Self:
        """The GraphQL object of one row."""
        values = {name: convert(getattr(row, column)) for name, column, convert in _columns(cls)}
        values[ROW] = row
        return cls(**values)
