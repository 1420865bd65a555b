"""Types shared by every domain: node loading, per-field user errors, ids and mutation plumbing."""

from __future__ import annotations

import dataclasses
import enum
import uuid
from abc import abstractmethod
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Literal, Self, TypeVar, overload

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.errors import BadUserInput, ErrorCode, NotFound
from dealgraph.schema.context import Context
from dealgraph.schema.enums import UserErrorCode
from dealgraph.schema.rows import FromRow
from dealgraph.services.ids import node_uuid, raw_uuid
from dealgraph.validation import FieldError, InvalidInput

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T")


@strawberry.type(description="A problem with one input field; nothing was saved.")
class UserError:
    field: str = strawberry.field(description="Input field path, e.g. 'input.amount'.")
    message: str
    code: UserErrorCode

    @classmethod
    def from_error(cls, error: FieldError) -> UserError:
        return cls(field=error.field, message=error.message, code=UserErrorCode(error.code))


def user_errors(error: InvalidInput) -> list[UserError]:
    return [UserError.from_error(e) for e in error.errors]


@strawberry.enum
class SortDirection(enum.Enum):
    ASC = "asc"
    DESC = "desc"


class LoadedNode(FromRow):
    """`Node.resolve_nodes` for our UUID-keyed row types, through the operation's DataLoaders.

    Put before `relay.Node` among the bases. A malformed or foreign id is just missing (null), as for any
    id the caller may not see; `required` (the `node` field's non-null form) makes that an error.
    """

    @classmethod
    @abstractmethod
    def node_loader(cls, info: strawberry.Info[Context, None]) -> DataLoader[uuid.UUID, Any]:
        """The loader of this type's rows by primary key."""

    @overload
    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: Literal[True]
    ) -> list[Self]: ...

    @overload
    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: Literal[False] = ...
    ) -> list[Self | None]: ...

    @overload
    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool
    ) -> list[Self] | list[Self | None]: ...

    @classmethod
    async def resolve_nodes(
        cls, *, info: strawberry.Info, node_ids: Iterable[str], required: bool = False
    ) -> list[Self] | list[Self | None]:
        ids = [raw_uuid(node_id) for node_id in node_ids]
        rows = await cls.node_loader(info).load_many([i for i in ids if i is not None])
        found = {row.id: row for row in rows if row is not None}
        nodes = [cls.from_row(found[i]) if i in found else None for i in ids]
        if required and None in nodes:
            raise NotFound("Node not found.")
        return nodes


def referenced(row: T | None) -> T:
    """The row a foreign key points at: always there, and in the caller's tenant, unless deleted meanwhile."""
    if row is None:
        raise NotFound("The referenced object no longer exists.")
    return row


def provided(data: DataclassInstance) -> dict[str, Any]:
    """The input fields the client actually sent (UNSET ones are left out), for partial updates."""
    return {
        f.name: getattr(data, f.name) for f in dataclasses.fields(data) if getattr(data, f.name) is not strawberry.UNSET
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


async def answer(action: Awaitable[T]) -> T:
    """Run query logic that checks its arguments as a mutation's does: a query has no payload to carry field
    errors, so they are its error, NOT_FOUND when each is one, else BAD_USER_INPUT, each field named."""
    try:
        return await action
    except InvalidInput as invalid:
        not_found = all(error.code is ErrorCode.NOT_FOUND for error in invalid.errors)
        raise (NotFound if not_found else BadUserInput)(str(invalid)) from invalid
