"""Cursor pagination (`first`/`after`) with opaque cursors.

Top-level lists use keyset pagination: the cursor holds the sort key and id of the last row, so
pages stay correct while rows are inserted (the SQL is in `dealgraph.db.keyset`, the list queries
and their sorts in the repositories).
Per-parent lists come whole from a DataLoader and are cut with offset cursors.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from dealgraph.db import keyset
from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput

T = TypeVar("T")
U = TypeVar("U")
DEFAULT_PAGE_SIZE = 20
MAX_CURSOR_LENGTH = 16_384
"""Well above the longest cursor issued: a 200-character name, each character at worst a 12-character JSON escape."""
MAX_OFFSET = 2**31 - 1
"""Offset cursors hold less: no list is that long, and an offset past PostgreSQL's bigint failed the statement."""


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
        # Longer than any cursor issued, it is no cursor, and not worth decoding; JSON nested past the parser's
        # recursion limit fits within the bound, so RecursionError is refused too.
        decoded = json.loads(base64.urlsafe_b64decode(cursor.encode())) if len(cursor) <= MAX_CURSOR_LENGTH else None
    except (ValueError, UnicodeDecodeError, RecursionError):
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

    def map(self, convert: Callable[[T], U]) -> Page[U]:
        """The same page with each item converted (rows to GraphQL objects), cursors unchanged."""
        return Page(
            [convert(item) for item in self.items], self.cursors, self.has_next_page, self.has_previous_page, self.count
        )


async def keyset_page(scope: TenantScope, query: ListQuery, sort: Sort, request: PageRequest) -> Page[Any]:
    """A page of a repository's list query; its SQL is `dealgraph.db.keyset`'s, the cursors are ours."""
    rest = keyset.past(
        keyset.sortable(query, sort), sort, None if request.after is None else keyset_position(request.after, sort)
    )
    rows = await keyset.first_rows(scope, rest, sort, request.first + 1)

    async def count() -> int:
        return await keyset.count(scope, rest)

    kept = rows[: request.first]
    return Page(
        items=[row[0] for row in kept],
        cursors=[encode_cursor(sort.name, row[-2], str(row[-1])) for row in kept],
        has_next_page=len(rows) > request.first,
        has_previous_page=request.after is not None,
        count=count,
    )


def keyset_position(cursor: str, sort: Sort) -> tuple[str, str]:
    """The (sort key, id) position of a cursor of this list, as text; BadUserInput if it is not one."""
    values = decode_cursor(cursor, sort.name)
    if len(values) != 2 or not all(isinstance(v, str) for v in values) or not keyset.valid_position(sort, *values):
        raise BadUserInput("'after' is not a cursor of this list.")
    return values[0], values[1]


def offset_after(after: str | None, kind: str) -> int:
    """Where a page of an offset-paginated list starts, given the cursor of the last item seen."""
    if after is None:
        return 0
    values = decode_cursor(after, kind)
    if len(values) != 1 or type(values[0]) is not int or not 0 <= values[0] < MAX_OFFSET:  # a JSON true is no int
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
