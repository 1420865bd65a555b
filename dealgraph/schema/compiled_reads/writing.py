"""The response of a compiled read, written from its rows: the writers a plan is made of.

Each object of the response has a writer made once per operation by the planner (`planner.Planner`), which
knows what it selected and in which order; writing is then a loop over rows with no GraphQL machinery. Leaves
go through the schema's own serializers (chosen by the planner), so what is written is what graphql-core
would have written.

>>> write = object_writer([constant("__typename", "Deal"), global_id("id", "Deal")])
>>> write(row)
{'__typename': 'Deal', 'id': 'RGVhbDo...'}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from strawberry import relay

from dealgraph.db.repositories.graph_reads import Page, Row


class Unanswerable(Exception):
    """This operation is not one of ours, or its input (or a row: a null where the schema promises a value) is
    one the resolvers would refuse: run it through them, which report it as usual."""


Step = Callable[[dict[str, Any], Row], None]
"""Writes one field of an object from its row into the object being written."""

Write = Callable[[Row], dict[str, Any]]
"""Writes one object of the response from its row."""


@dataclass(slots=True)
class ConnectionWriter:
    """Writes a connection's fields from a page: what it selected, and how its cursors read."""

    fields: list[tuple[str, str, Any]]
    cursor: Callable[[int, Row], str]
    has_previous_page: bool
    cursors_selected: bool = field(init=False)

    def __post_init__(self) -> None:
        """Cursors are only made when asked for: an edge's `cursor`, or `startCursor`/`endCursor`."""
        self.cursors_selected = any(
            (kind == "edges" and any(edge_kind == "cursor" for _, edge_kind, _ in spec))
            or (kind == "pageInfo" and any(name in ("startCursor", "endCursor") for _, name in spec))
            for _, kind, spec in self.fields
        )

    def write(self, page: Page) -> dict[str, Any]:
        cursors = [self.cursor(index, row) for index, row in enumerate(page.rows)] if self.cursors_selected else []
        written: dict[str, Any] = {}
        for key, kind, spec in self.fields:
            if kind == "typename":
                written[key] = spec
            elif kind == "edges":
                written[key] = [
                    _edge(spec, cursors[index] if cursors else "", row) for index, row in enumerate(page.rows)
                ]
            else:  # pageInfo
                info = {
                    "hasNextPage": page.has_next_page,
                    "hasPreviousPage": self.has_previous_page,
                    "startCursor": cursors[0] if cursors else None,
                    "endCursor": cursors[-1] if cursors else None,
                }
                written[key] = {sub: info.get(name, name) for sub, name in spec}  # else it is the typename
        return written


def _edge(fields: list[tuple[str, str, Any]], cursor: str, row: Row) -> dict[str, Any]:
    edge: dict[str, Any] = {}
    for key, kind, spec in fields:
        edge[key] = spec if kind == "typename" else cursor if kind == "cursor" else spec(row)
    return edge


def constant(key: str, value: str) -> Step:
    def write(into: dict[str, Any], _row: Row) -> None:
        into[key] = value

    return write


def global_id(key: str, type_name: str) -> Step:
    def write(into: dict[str, Any], row: Row) -> None:
        into[key] = relay.to_base64(type_name, str(row.values["id"]))

    return write


def parent(key: str, index: int, write_parent: Write, required: bool) -> Step:
    def write(into: dict[str, Any], row: Row) -> None:
        parent = row.parents[index]
        if parent is None:
            if required:
                raise Unanswerable
            into[key] = None
        else:
            into[key] = write_parent(parent)

    return write


def object_writer(steps: list[Step]) -> Write:
    def write(row: Row) -> dict[str, Any]:
        written: dict[str, Any] = {}
        for step in steps:
            step(written, row)
        return written

    return write
