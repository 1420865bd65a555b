"""Keyset pagination SQL: the rows after a (sort key, id) position, and the total behind a page.

The cursor itself (encoding, which list it belongs to) is `dealgraph.services.pagination`'s; this
module only turns a decoded position into SQL. Sort keys must be non-null expressions (nullable
columns are wrapped in COALESCE by the repository defining the sort) because row comparison with
NULL is unknown.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Numeric,
    Select,
    SmallInteger,
    String,
    Text,
    cast,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.orm import InstrumentedAttribute

from dealgraph.db.session import TenantScope

ListQuery = Select[Any]
"""A repository's list query, unordered and unlimited: what services hand back to be paged."""


@dataclass(frozen=True, slots=True)
class Sort:
    key: ColumnElement[Any] | InstrumentedAttribute[Any]
    id: ColumnElement[Any] | InstrumentedAttribute[Any]
    descending: bool
    name: str
    joins: tuple[tuple[Any, ColumnElement[bool]], ...] = ()
    """(an aliased table, its ON clause): what the key reads besides the listed row, joined to it (exactly one row
    each: a join on a key that every row has), so a page is read in the order of the joined table's index rather
    than by a subquery per row."""


def sortable(query: ListQuery, sort: Sort) -> ListQuery:
    """`query` with what `sort`'s key reads joined: before `past`, `first_rows` and `count`."""
    for target, on in sort.joins:
        query = query.join(target, on)
    return query


def valid_position(sort: Sort, key: str, row_id: str) -> bool:
    """Whether a cursor's position casts back to the sort key's type and a UUID, checked before any SQL runs.

    A cursor is opaque to clients but not tamper-proof: one whose key PostgreSQL cannot cast would fail the
    statement (and the operation's shared transaction with it) as an internal error.
    """
    try:
        # Python also parses forms PostgreSQL refuses ("urn:uuid:", hyphens anywhere); ids are written canonically.
        if str(uuid.UUID(row_id)) != row_id:
            return False
        key.encode()  # a lone surrogate cannot be sent
        return "\x00" not in key and _castable(sort.key.type, key)
    except (ValueError, ArithmeticError):  # UnicodeEncodeError is a ValueError
        return False


_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,6})?[+-](0\d|1[0-5])(:[0-5]\d){0,2}")
_NUMBER = re.compile(r"-?\d+(\.(\d+))?")
_INTEGER = re.compile(r"-?\d+")
"""The text PostgreSQL writes for these types (ISO DateStyle), which the cursors hold; anything else is refused
even where Python would parse it (ISO week dates, underscores in numbers, time zone offsets of 16 hours or more or
of 60 minutes, which PostgreSQL refuses as out of range)."""
_MAX_FRACTION_DIGITS = 16_383
"""PostgreSQL's limit on digits after a numeric's point, for a numeric column without a scale."""


def _castable(key_type: Any, text: str) -> bool:
    """Raises ValueError for a well-formed text that is no value (a 13th month)."""
    if isinstance(key_type, String):
        return True
    if isinstance(key_type, Integer):
        bits = 16 if isinstance(key_type, SmallInteger) else 64 if isinstance(key_type, BigInteger) else 32
        return _INTEGER.fullmatch(text) is not None and -(2 ** (bits - 1)) <= int(text) < 2 ** (bits - 1)
    if isinstance(key_type, Date | DateTime) and text in ("infinity", "-infinity"):
        return True
    if isinstance(key_type, DateTime):
        if not _TIMESTAMP.fullmatch(text):
            return False
        datetime.fromisoformat(text)
        return True
    if isinstance(key_type, Date):
        if not _DATE.fullmatch(text):
            return False
        date.fromisoformat(text)
        return True
    if isinstance(key_type, Numeric):
        number = _NUMBER.fullmatch(text)
        if not number:
            return False
        # More fraction digits than the scale would be rounded, maybe up past the precision (999.999 in NUMERIC(5, 2)).
        fraction_digits = _MAX_FRACTION_DIGITS if key_type.scale is None else key_type.scale
        whole_digits = (key_type.precision or 1000) - (key_type.scale or 0)
        return len(number[2] or "") <= fraction_digits and abs(Decimal(text)) < Decimal(10) ** whole_digits
    return False  # a sort key of a type this check does not know: refused rather than failed in SQL


def past(query: ListQuery, sort: Sort, after: tuple[str, str] | None) -> ListQuery:
    """`query` narrowed to the rows after `after` (a sort key and an id, as text) in `sort` order."""
    if after is None:
        return query
    value, row_id = after
    boundary = tuple_(cast(literal(value, Text), sort.key.type), cast(literal(row_id, Text), UUID(as_uuid=False)))
    position = tuple_(sort.key, sort.id)
    return query.where(position < boundary if sort.descending else position > boundary)


async def first_rows(scope: TenantScope, query: ListQuery, sort: Sort, limit: int) -> Sequence[Any]:
    """The first `limit` rows in `sort` order, each ending with its sort key (as text) and id: the cursor."""
    ordering = (sort.key.desc(), sort.id.desc()) if sort.descending else (sort.key.asc(), sort.id.asc())
    paged = (
        query.add_columns(cast(sort.key, Text).label("cursor_key"), sort.id.label("cursor_id"))
        .order_by(*ordering)
        .limit(limit)
    )
    async with scope.session() as session:
        return (await session.execute(paged)).all()


async def count(scope: TenantScope, query: ListQuery) -> int:
    counted = select(func.count()).select_from(query.order_by(None).subquery())
    async with scope.session() as session:
        return int((await session.execute(counted)).scalar_one())
