"""Types shared by every domain: connections and per-field user errors."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Generic, TypeVar

import strawberry
from strawberry import relay

from dealgraph.errors import NotFound
from dealgraph.resolvers.ids import node_uuid, raw_uuid
from dealgraph.resolvers.pagination import Page
from dealgraph.resolvers.validation import ErrorCode, FieldError, InvalidInput

T = TypeVar("T")

UserErrorCode = strawberry.enum(ErrorCode, name="UserErrorCode")


@strawberry.type(description="A problem with one input field; nothing was saved.")
class UserError:
    field: str = strawberry.field(description="Input field path, e.g. 'input.amount'.")
    message: str
    code: UserErrorCode  # type: ignore[valid-type]

    @classmethod
    def from_error(cls, error: FieldError) -> UserError:
        return cls(field=error.field, message=error.message, code=error.code)


def user_errors(error: InvalidInput) -> list[UserError]:
    return [UserError.from_error(e) for e in error.errors]


@strawberry.type
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list; pass `pageInfo.endCursor` as `after` for the next one.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: relay.PageInfo
    _page: strawberry.Private[Page[Any]]

    @strawberry.field(description="Number of items in the whole list (costs one extra query).")
    async def total_count(self) -> int:
        return await self._page.count()

    @classmethod
    def of(cls, page: Page[Any], convert: Callable[[Any], T]) -> Connection[T]:
        edges = [Edge(cursor=c, node=convert(item)) for c, item in zip(page.cursors, page.items, strict=True)]
        return cls(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _page=page,
        )


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


async def load_nodes(
    loader: Any, node_ids: Iterable[str], convert: Callable[[Any], T], *, required: bool
) -> list[T | None]:
    """`Node.resolve_nodes` for our UUID-keyed types: malformed and foreign ids are just missing."""
    ids = [raw_uuid(node_id) for node_id in node_ids]
    rows = await loader.load_many([i for i in ids if i is not None])
    found = {row.id: row for row in rows if row is not None}
    nodes = [convert(found[i]) if i in found else None for i in ids]
    if required and None in nodes:
        raise NotFound("Node not found.")
    return nodes


def provided(data: object) -> dict[str, Any]:
    """The input fields the client actually sent (UNSET ones are left out), for partial updates."""
    return {
        f.name: getattr(data, f.name)
        for f in dataclasses.fields(data)  # type: ignore[arg-type]
        if getattr(data, f.name) is not strawberry.UNSET
    }


def global_id(type_name: str, pk: uuid.UUID | str) -> strawberry.ID:
    """The Relay global id of a row, for fields that return an id rather than the object."""
    return strawberry.ID(str(relay.GlobalID(type_name, str(pk))))


# An id that names no row: a malformed or foreign global id in an input becomes this, so validation
# reports "not found" instead of the value being mistaken for an explicit null.
UNKNOWN_ID = uuid.UUID(int=0)


def input_ids(fields: dict[str, Any], types: dict[str, str]) -> dict[str, Any]:
    """Replace the global ids among `fields` (field name -> node type) by database UUIDs."""
    converted = dict(fields)
    for name, type_name in types.items():
        value = converted.get(name)
        if value is not None:
            converted[name] = node_uuid(value, type_name) or UNKNOWN_ID
    return converted


@strawberry.type
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


P = TypeVar("P")


async def mutate(payload: Callable[..., P], field: str, action: Awaitable[Any], convert: Callable[[Any], Any]) -> P:
    """Run mutation logic; validation problems become the payload's `errors`, success its `field`."""
    try:
        result = await action
    except InvalidInput as invalid:
        return payload(errors=user_errors(invalid))
    return payload(**{field: convert(result)})
