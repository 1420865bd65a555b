"""Cursor pagination (`first`/`after`) with opaque cursors.

Top-level lists use keyset pagination: the cursor holds the sort key and id of the last row, so
pages stay correct while rows are inserted. Sort keys must be non-null expressions (nullable
columns are wrapped in COALESCE by the caller) because row comparison with NULL is unknown.
Per-parent lists come whole from a DataLoader and are cut with offset cursors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, Text, cast, func, literal, select, tuple_
from sqlalchemy.dialects.postgresql import UUID

from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput

T = TypeVar("T")
DEFAULT_PAGE_SIZE = 20


@dataclass(frozen=True, slots=True)
class PageRequest:
    first: int
    after: str | None


def page_request(first: int | None, after: str | None, max_page_size: int) -> PageRequest:
    size = DEFAULT_PAGE_SIZE if first is None else first
    if not 0 <= size <= max_page_size:
        raise BadUserInput(f"'first' must be between 0 and {max_page_size}, got {size}.")
    return PageRequest(min(size, max_page_size), after)


def encode_cursor(kind: str, *values: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, *values]).encode()).decode()


def decode_cursor(cursor: str, kind: str) -> list[Any]:
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, UnicodeDecodeError):
        decoded = None
    if not isinstance(decoded, list) or not decoded or decoded[0] != kind:
        raise BadUserInput("'after' is not a cursor of this list.")
    return decoded[1:]


@dataclass(slots=True)
class Page(Generic[T]):
    items: list[T]
    cursors: list[str]
    has_next_page: bool
    has_previous_page: bool
    count: Callable[[], Awaitable[int]]


@dataclass(frozen=True, slots=True)
class Sort:
    key: ColumnElement[Any]
    id: ColumnElement[Any]
    descending: bool
    name: str


async def keyset_page(scope: TenantScope, query: Select[Any], sort: Sort, request: PageRequest) -> Page[Any]:
    if request.after is not None:
        value, row_id = _keyset_values(request.after, sort.name)
        boundary = tuple_(cast(literal(value, Text), sort.key.type), cast(literal(row_id, Text), UUID(as_uuid=False)))
        position = tuple_(sort.key, sort.id)
        query = query.where(position < boundary if sort.descending else position > boundary)
    ordering = (sort.key.desc(), sort.id.desc()) if sort.descending else (sort.key.asc(), sort.id.asc())
    paged = query.add_columns(cast(sort.key, Text).label("cursor_key"), sort.id.label("cursor_id")).order_by(*ordering).limit(request.first + 1)
    async with scope.session() as session:
        rows = (await session.execute(paged)).all()

    async def count() -> int:
        counted = select(func.count()).select_from(query.order_by(None).subquery())
        async with scope.session() as session:
            return int((await session.execute(counted)).scalar_one())

    kept = rows[: request.first]
    return Page(
        items=[row[0] for row in kept],
        cursors=[encode_cursor(sort.name, row[-2], str(row[-1])) for row in kept],
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
        count=count,
    )


def _keyset_values(cursor: str, name: str) -> tuple[str, str]:
    values = decode_cursor(cursor, name)
    if len(values) != 2 or not all(isinstance(v, str) for v in values):
        raise BadUserInput("'after' is not a cursor of this list.")
    return values[0], values[1]


def offset_after(after: str | None, kind: str) -> int:
    """Where a page of an offset-paginated list starts, given the cursor of the last item seen."""
    if after is None:
        return 0
    values = decode_cursor(after, kind)
    if len(values) != 1 or not isinstance(values[0], int) or values[0] < 0:
        raise BadUserInput("'after' is not a cursor of this list.")
    return values[0] + 1


def slice_page(items: Sequence[T], request: PageRequest, kind: str) -> Page[T]:
    start = offset_after(request.after, kind)
    kept = list(items[start : start + request.first])

    async def count() -> int:
        return len(items)

    return Page(
        items=kept,
        cursors=[encode_cursor(kind, start + i) for i in range(len(kept))],
        has_next_page=start + request.first < len(items),
        has_previous_page=start > 0,
        count=count,
    )
