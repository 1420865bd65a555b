"""Relay connections over the two kinds of list we page: pages cut by SQL, and lists loaded whole.

A connection field is `@relay.connection(Connection[X])`: strawberry adds the `first`/`after`/`last`/`before`
arguments and passes them, with what the field's resolver returned, to `Connection.resolve_connection`. The
resolver returns a `Pages` source rather than the nodes themselves because a keyset page is cut in SQL (the
`after` cursor becomes a WHERE clause), which only the source knows how to do. One GraphQL type serves both
sources: deals are keyset-paged at the root and sliced under an account, and both lists are a `DealConnection`.
"""

# mypy: disable-error-code="type-var"
# relay bounds a connection's node type to `Node` (see NodeType below), also in the `__init__` the strawberry
# plugin generates, where no line comment can reach: for this module only, that one check is off.

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Generic, Self, TypeVar

import strawberry
from strawberry import relay
from strawberry.relay.types import NodeIterableType

from dealgraph.errors import BadUserInput
from dealgraph.services.pagination import DEFAULT_PAGE_SIZE, Page, PageRequest, page_request, slice_page

N = TypeVar("N")
R = TypeVar("R")
# The node type of a connection. Named as strawberry's own (its `edges` field is typed with that name, and a
# generic is specialised by type-variable name), but unbound: we also page items that are not nodes
# (utterances, search hits, audit entries), which relay's `Node`-bound variable would refuse.
NodeType = TypeVar("NodeType")


class Pages(AsyncIterable[N], ABC):
    """A list a connection reads one page at a time."""

    @abstractmethod
    async def page(self, request: PageRequest) -> Page[N]:
        """The nodes of one page, with their cursors."""

    async def __aiter__(self) -> AsyncIterator[N]:
        """Every node, page by page: strawberry requires a connection's resolver to return an iterable."""
        request = PageRequest(DEFAULT_PAGE_SIZE, None)
        while True:
            page = await self.page(request)
            for node in page.items:
                yield node
            if not page.has_next_page:
                return
            request = PageRequest(DEFAULT_PAGE_SIZE, page.cursors[-1])


class FetchedPages(Pages[N], Generic[R, N]):
    """Pages that SQL cuts: keyset-paged lists (`keyset_page`) and search results."""

    def __init__(self, fetch: Callable[[PageRequest], Awaitable[Page[R]]], convert: Callable[[R], N]) -> None:
        self._fetch = fetch
        self._convert = convert

    async def page(self, request: PageRequest) -> Page[N]:
        return (await self._fetch(request)).map(self._convert)


class LoadedList(Pages[N], Generic[R, N]):
    """A list loaded whole (a parent's children, from a DataLoader), cut in memory with offset cursors.

    `kind` names the list in its cursors, so a cursor of another list is refused rather than misread.
    """

    def __init__(self, rows: Sequence[R], convert: Callable[[R], N], kind: str) -> None:
        self._rows = rows
        self._convert = convert
        self._kind = kind

    async def page(self, request: PageRequest) -> Page[N]:
        return slice_page(self._rows, request, self._kind).map(self._convert)


@strawberry.type(
    name="Connection", description="A page of a list; pass `pageInfo.endCursor` as `after` for the next one."
)
class Connection(relay.Connection[NodeType]):
    _count: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Number of items in the whole list (costs one extra query).")
    async def total_count(self) -> int:
        return await self._count()

    @classmethod
    async def resolve_connection(
        cls,
        nodes: NodeIterableType[NodeType],
        *,
        info: strawberry.Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        max_results: int | None = None,
        **kwargs: Any,
    ) -> Self:
        """Our lists page forwards only: `last` and `before` are refused by name, not ignored."""
        for name, value in (("last", last), ("before", before)):
            if value is not None:
                raise BadUserInput(f"'{name}' is not supported: lists page forwards, with 'first' and 'after'.")
        if not isinstance(nodes, Pages):
            raise TypeError(f"a connection field must return Pages, not {type(nodes).__name__}")
        limit = max_results or info.context.settings.max_page_size
        page = await nodes.page(page_request(first, after, limit))
        return cls(
            edges=[relay.Edge(cursor=c, node=n) for c, n in zip(page.cursors, page.items, strict=True)],
            page_info=relay.PageInfo(
                has_next_page=page.has_next_page,
                has_previous_page=page.has_previous_page,
                start_cursor=page.cursors[0] if page.cursors else None,
                end_cursor=page.cursors[-1] if page.cursors else None,
            ),
            _count=page.count,
        )
