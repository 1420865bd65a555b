"""Bounded `Decimal`, `DateTime` and `Date` scalars: values no column or arithmetic can hold are refused at coercion.

Strawberry's defaults accept anything Python can parse ("1e309", 35 digits, year 1), which then
crashes deep inside a resolver or the driver. Refusing them while the request is coerced makes them
`BAD_USER_INPUT` errors naming the variable and field, for every argument of these types at once.
They also accept what Python's parsers are lenient about ("1_000", "１２", "20270101", "2027-W01-1",
"T24:00"), which no other GraphQL server would take: a Decimal string must be a plain ASCII number, a
Date `YYYY-MM-DD` and a DateTime RFC 3339.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Callable

from strawberry.exceptions import StrawberryInputCoercionError
from strawberry.schema.types.base_scalars import DateDefinition, DateTimeDefinition, DecimalDefinition
from strawberry.types.scalar import ScalarDefinition, scalar

# What Python's default decimal context (28 digits) computes exactly; NUMERIC columns are far narrower.
MAX_DECIMAL_DIGITS = 28
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2999, 12, 31, tzinfo=dt.UTC)
PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
CALENDAR_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# RFC 3339 (the profile of ISO 8601 GraphQL clients send), with the offset optional (then UTC) and a space
# allowed for the T; no week or ordinal dates, no basic format, no 24:00, at most microseconds.
DATE_TIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ](?:[01][0-9]|2[0-3]):[0-5][0-9](?::[0-5][0-9](?:\.[0-9]{1,6})?)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)


def _builtin_parser(definition: ScalarDefinition) -> Callable[[object], object]:
    """Strawberry's own parser of a built-in scalar (they all have one), which ours narrow."""
    assert definition.parse_value is not None
    return definition.parse_value


_parse_any_decimal = _builtin_parser(DecimalDefinition)
_parse_any_datetime = _builtin_parser(DateTimeDefinition)
_parse_any_date = _builtin_parser(DateDefinition)


def _parse_decimal(value: object) -> decimal.Decimal:
    if isinstance(value, str) and not PLAIN_NUMBER.fullmatch(value):
        raise StrawberryInputCoercionError(f'Value cannot represent a Decimal: "{value}". Expected a plain number.')
    parsed = _parse_any_decimal(value)
    assert isinstance(parsed, decimal.Decimal)
    if not parsed.is_finite():
        raise StrawberryInputCoercionError(f'Value cannot represent a Decimal: "{value}". Expected a finite number.')
    digits = len(parsed.as_tuple().digits)
    if digits > MAX_DECIMAL_DIGITS or not -MAX_DECIMAL_DIGITS <= parsed.adjusted() < MAX_DECIMAL_DIGITS:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Decimal: "{value}". Expected at most {MAX_DECIMAL_DIGITS} significant '
            f"digits and a magnitude below 1e{MAX_DECIMAL_DIGITS}."
        )
    return parsed


def _parse_datetime(value: object) -> dt.datetime:
    if not isinstance(value, str) or not DATE_TIME.fullmatch(value):
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". Expected RFC 3339, e.g. 2026-03-01T14:30:00Z.'
        )
    parsed = _parse_any_datetime(value)
    assert isinstance(parsed, dt.datetime)
    comparable = parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    try:
        in_range = EARLIEST <= comparable <= LATEST
    except OverflowError:  # an offset pushing the instant past year 1 or 9999
        in_range = False
    if not in_range:
        raise StrawberryInputCoercionError(
            f'Value cannot represent a DateTime: "{value}". Expected a date between {EARLIEST.year} and {LATEST.year}.'
        )
    return parsed


def _parse_date(value: object) -> dt.date:
    if not isinstance(value, str) or not CALENDAR_DATE.fullmatch(value):
        raise StrawberryInputCoercionError(f'Value cannot represent a Date: "{value}". Expected YYYY-MM-DD.')
    parsed = _parse_any_date(value)
    assert isinstance(parsed, dt.date)
    if not EARLIEST.date() <= parsed <= LATEST.date():
        raise StrawberryInputCoercionError(
            f'Value cannot represent a Date: "{value}". Expected a date between {EARLIEST.year} and {LATEST.year}.'
        )
    return parsed


BoundedDecimal: ScalarDefinition = scalar(
    name="Decimal",
    description=f"Decimal number as a string (or number), finite, at most {MAX_DECIMAL_DIGITS} significant digits.",
    serialize=str,
    parse_value=_parse_decimal,
)
BoundedDateTime: ScalarDefinition = scalar(
    name="DateTime",
    description=f"Date with time (ISO 8601), between the years {EARLIEST.year} and {LATEST.year}.",
    serialize=dt.datetime.isoformat,
    parse_value=_parse_datetime,
)
BoundedDate: ScalarDefinition = scalar(
    name="Date",
    description=f"Calendar date (YYYY-MM-DD), between the years {EARLIEST.year} and {LATEST.year}.",
    serialize=dt.date.isoformat,
    parse_value=_parse_date,
)
SCALAR_OVERRIDES: dict[object, ScalarDefinition] = {
    decimal.Decimal: BoundedDecimal,
    dt.datetime: BoundedDateTime,
    dt.date: BoundedDate,
}
