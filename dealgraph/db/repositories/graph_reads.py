"""A nested read (a page of rows, their parents, pages of their children) as one SQL statement.

The GraphQL layer describes what a query reads as a `ListRead` tree (`dealgraph.schema.compiled_reads`);
this module renders it as a single SELECT of nested row arrays, which asyncpg decodes into tuples of
the same Python values the ORM would load, and runs it on the read pool (`dealgraph.db.read_pool`)
under the caller's tenant and row-level security.

It reuses what the other reads define, so the two paths cannot drift: root lists page with the
repositories' keyset sorts (`Sort`, and the same `CAST(key AS TEXT)` the cursors hold) and children
come in the DataLoaders' order (`batches.Children.order_by`), both re-targeted to this statement's
table aliases with SQLAlchemy's `ClauseAdapter`. The SQL of a shape is rendered once and cached; the
only parameters are cursor positions.

>>> shape = ListRead("deals", "amount", True, first=20, after=False,
...                  row=RowRead("deals", ("name",), parents=(ParentRead("account_id", RowRead("accounts", ("name",))),)))
>>> pages = await read_lists(database, tenant_id, (shape,), [[]])
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, lru_cache
from typing import Any, Literal, NamedTuple

from sqlalchemy import ARRAY, Column, Enum, inspect, literal_column, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.sql.util import ClauseAdapter

from dealgraph.db.keyset import Sort
from dealgraph.db.models import Account, Analysis, Deal, Transcript
from dealgraph.db.repositories import accounts, analyses, batches, deals, transcripts
from dealgraph.db.session import Database

_DIALECT = asyncpg_dialect()
_TABLES: dict[str, Any] = {model.__tablename__: model.__table__ for model in (Account, Deal, Transcript)}
_ROOT_SORTS: dict[str, Callable[[str, bool], Sort]] = {
    "deals": deals.sort_by,
    "accounts": lambda _field, _descending: accounts.BY_NAME,
    "transcripts": lambda _field, _descending: transcripts.RECENT_FIRST,
}
"""Root lists without filters, in their listing order (only deals offer a choice of sort)."""
CHILD_LISTS: dict[str, batches.Children] = {
    "transcripts_by_deal": batches.TRANSCRIPTS_BY_DEAL,
    "deals_by_account": batches.DEALS_BY_ACCOUNT,
}


@dataclass(frozen=True, slots=True)
class RowRead:
    """Which columns of a table's rows to read (the id always comes first), and what hangs off each row."""

    table: str
    columns: tuple[str, ...]
    parents: tuple[ParentRead, ...] = ()
    children: tuple[ChildrenRead, ...] = ()
    extras: tuple[ExtraRead, ...] = ()


@dataclass(frozen=True, slots=True)
class ExtraRead:
    """What a deal's board shows besides its columns: its stored health (`HealthRecord`, None before the first
    request of one), or the `agent`'s succeeded results on its calls (`analyses.succeeded_results`' rows
    without the deal id: the same query, correlated to the deal)."""

    kind: Literal["health", "results"]
    agent: str = ""


class HealthRecord(NamedTuple):
    """A `deal_health` row as read, its JSON still text: equal rows are equal (and hashable) records, so what is
    made of one can be remembered (`stored()` decodes it)."""

    health: str
    status: str
    warnings: str
    next_step: str | None
    computed_at: datetime | None
    version: int

    def stored(self) -> StoredHealth:
        return StoredHealth(
            self.health,
            self.status,
            json.loads(self.warnings),
            json.loads(self.next_step or "null"),
            self.computed_at,
            self.version,
        )


class StoredHealth(NamedTuple):
    """The `deal_health` columns the API shows, named as on the model, so `DealHealthView.of` reads either."""

    health: str
    status: str
    warnings: list[dict[str, Any]]
    next_step: dict[str, Any] | None
    computed_at: datetime | None
    version: int


@dataclass(frozen=True, slots=True)
class ParentRead:
    via: str
    """This row's column holding the parent's id."""
    row: RowRead


@dataclass(frozen=True, slots=True)
class ChildrenRead:
    relation: str
    """A key of CHILD_LISTS."""
    offset: int
    first: int
    row: RowRead


@dataclass(frozen=True, slots=True)
class ListRead:
    """A keyset page of a root list; `after` says whether a cursor position is passed as parameters.

    `sort` and `descending` choose among the listing's sorts; a listing with one sort ignores them.
    """

    listing: str
    sort: str
    descending: bool
    first: int
    after: bool
    row: RowRead


@dataclass(slots=True)
class Row:
    values: dict[str, Any]
    parents: list[Row | None]
    children: list[Page]
    extras: list[Any] = field(default_factory=list)
    position: tuple[str, str] | None = None
    """A root-list row's keyset position: its sort key as text and its id, as the cursor holds them."""


@dataclass(slots=True)
class Page:
    rows: list[Row] = field(default_factory=list)
    has_next_page: bool = False


def has_column(table: str, name: str) -> bool:
    return name in _TABLES[table].c


def root_sort(listing: str, sort: str, descending: bool) -> Sort:
    return _ROOT_SORTS[listing](sort, descending)


async def read_lists(
    database: Database, tenant_id: uuid.UUID, lists: tuple[ListRead, ...], positions: Sequence[Sequence[str]]
) -> list[Page]:
    """One page per root list, read in one statement; `positions` holds each list's cursor values (or none)."""
    sql = _sql(lists)
    args = [value for values in positions for value in values]
    async with database.tenant_connections.hold(tenant_id):
        record = await database.reads.fetchrow(tenant_id, sql, args)
    return [_page(shape.row, shape.first, items, keyset=True) for shape, items in zip(lists, record, strict=True)]


# ---------------------------------------------------------------- decoding


def _page(shape: RowRead, first: int, items: Sequence[tuple[Any, ...]], *, keyset: bool) -> Page:
    return Page([_row(shape, item, keyset) for item in items[:first]], len(items) > first)


def _row(shape: RowRead, item: tuple[Any, ...], keyset: bool = False) -> Row:
    decoders = _decoders(shape.table, shape.columns)
    values = {"id": item[0]}
    for index, (name, decode) in enumerate(decoders, start=1):
        value = item[index]
        values[name] = value if decode is None or value is None else decode(value)
    at = 1 + len(decoders)
    parents: list[Row | None] = []
    for parent in shape.parents:
        parents.append(None if item[at] is None else _row(parent.row, item[at]))
        at += 1
    children = []
    for child in shape.children:
        children.append(_page(child.row, child.first, item[at], keyset=False))
        at += 1
    extras = []
    for extra in shape.extras:
        extras.append(_decoded_extra(extra, item[at]))
        at += 1
    return Row(values, parents, children, extras, (item[at], str(item[at + 1])) if keyset else None)


@cache
def _decoders(table: str, columns: tuple[str, ...]) -> list[tuple[str, Callable[[Any], Any] | None]]:
    """What the ORM does to each column after asyncpg (e.g. an enum's stored value to the member)."""
    return [(name, _column(table, name).type.result_processor(_DIALECT, None)) for name in columns]


def _decoded_extra(extra: ExtraRead, value: Any) -> Any:
    if extra.kind == "health":
        return None if value is None else HealthRecord(*value)
    return [(call, occurred_at, finished_at, json.loads(result)) for call, occurred_at, finished_at, result in value]


def _column(table: str, name: str) -> Column[Any]:
    return _TABLES[table].c[name]


# ---------------------------------------------------------------- SQL


@lru_cache(maxsize=256)
def _sql(lists: tuple[ListRead, ...]) -> str:
    aliases = (f"t{n}" for n in itertools.count(1))
    parameters = (f"${n}" for n in itertools.count(1))
    return "SELECT " + ", ".join(_root(shape, aliases, parameters) for shape in lists)


def _root(shape: ListRead, aliases: Iterator[str], parameters: Iterator[str]) -> str:
    alias = next(aliases)
    table = _TABLES[shape.listing].alias(alias)
    sort = root_sort(shape.listing, shape.sort, shape.descending)
    key, row_id = _compiled(sort.key, table), _compiled(sort.id, table)
    where = ""
    if shape.after:
        key_type = sort.key.type.compile(dialect=_DIALECT)
        where = (
            f" WHERE ({key}, {row_id}) {'<' if sort.descending else '>'} "
            f"(CAST({next(parameters)}::text AS {key_type}), CAST({next(parameters)}::text AS UUID))"
        )
        # keyset.past compares the same way: the cursor's text cast back to the key's type
    direction = "DESC" if sort.descending else "ASC"
    joined = [(inspect(target).selectable, on) for target, on in sort.joins]  # (aliased table, ON clause)
    record = _record(
        shape.row,
        alias,
        aliases,
        extra=(f"CAST({key} AS TEXT)", row_id),
        joined={other.element.name: other.name for other, _on in joined},
    )
    joins = "".join(f" JOIN {other.element.name} AS {other.name} ON {_compiled(on, table)}" for other, on in joined)
    return (
        f"ARRAY(SELECT {record} FROM {shape.listing} AS {alias}{joins}{where} "
        f"ORDER BY {key} {direction}, {row_id} {direction} LIMIT {shape.first + 1})"
    )


def _record(
    shape: RowRead,
    alias: str,
    aliases: Iterator[str],
    extra: tuple[str, ...] = (),
    joined: Mapping[str, str] | None = None,
) -> str:
    """`joined`: the tables the sort joined to this row (name -> alias), whose row an extra reads as it is."""
    parts = [f"{alias}.id", *(_column_sql(shape.table, alias, name) for name in shape.columns)]
    for parent in shape.parents:
        inner = next(aliases)
        parent_table = _column(shape.table, parent.via).foreign_keys.copy().pop().column.table.name
        parts.append(
            f"(SELECT {_record(parent.row, inner, aliases)} FROM {parent_table} AS {inner} "
            f"WHERE {inner}.id = {alias}.{parent.via})"
        )
    for child in shape.children:
        inner = next(aliases)
        relation = CHILD_LISTS[child.relation]
        table: Any = relation.query.get_final_froms()[0]
        adapted = table.alias(inner)
        order = ", ".join(_compiled(term, adapted) for term in relation.order_by)
        parts.append(
            f"ARRAY(SELECT {_record(child.row, inner, aliases)} FROM {table.name} AS {inner} "
            f"WHERE {inner}.{relation.parent.key} = {alias}.id ORDER BY {order} "
            f"LIMIT {child.first + 1} OFFSET {child.offset})"
        )
    parts.extend(_extra_sql(extra, alias, joined or {}) for extra in shape.extras)
    parts.extend(extra)
    return f"ROW({', '.join(parts)})"


def _extra_sql(extra: ExtraRead, alias: str, joined: Mapping[str, str]) -> str:
    """JSON as text: asyncpg decodes an anonymous record's jsonb field as text in any case, this says so."""
    if extra.kind == "health":
        health = joined.get("deal_health", "h")  # the HEALTH order's joined row (the deal's own) if there is one
        row = (
            f"ROW({health}.health, {health}.status, CAST({health}.warnings AS TEXT), "
            f"CAST({health}.next_step AS TEXT), {health}.computed_at, {health}.version)"
        )
        return row if "deal_health" in joined else f"(SELECT {row} FROM deal_health AS h WHERE h.deal_id = {alias}.id)"
    query = analyses.succeeded_results_of(Analysis.deal_id == literal_column(f"{alias}.id"), extra.agent)
    compiled = query.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True})
    # the subquery's ORDER BY is the array's order: a plain scan of it keeps it
    return f"ARRAY(SELECT ROW(r.id, r.occurred_at, r.finished_at, CAST(r.result AS TEXT)) FROM ({compiled}) AS r)"


def _column_sql(table: str, alias: str, name: str) -> str:
    """A column as asyncpg can decode it inside an anonymous record: enums and arrays as text."""
    column_type = _column(table, name).type
    if isinstance(column_type, Enum):
        return f"CAST({alias}.{name} AS TEXT)"
    if isinstance(column_type, ARRAY):
        return f"CAST({alias}.{name} AS TEXT[])"
    return f"{alias}.{name}"


def _compiled(expression: Any, table: Any) -> str:
    """A repository's expression (or mapped attribute) over `table`'s alias, as SQL with its constants inline."""
    element: ClauseElement = (
        expression.__clause_element__() if hasattr(expression, "__clause_element__") else expression
    )
    adapted: Any = ClauseAdapter(table).traverse(element)
    # Compiled inside a SELECT from the alias, so a subquery of the expression (a deal's figure, its health, its
    # latest call) correlates to the alias' row; compiled alone, it would list the alias in its own FROM instead.
    statement = select(adapted.label(_KEY)).select_from(table)
    compiled = str(statement.compile(dialect=_DIALECT, compile_kwargs={"literal_binds": True}))
    return compiled.removeprefix("SELECT ").rsplit(f" AS {_KEY}", 1)[0]


_KEY = "graph_read_key"
