"""Validation problems a client can fix, reported per field instead of failing the whole request.

Field rules (lengths, ranges, decimals, formats) are pydantic constraints on a `TypedDict` of the
input's fields (`Rules`); what needs the database or the settings (does the account exist, is the
model allowed) is checked by hand. A `Checker` collects both, so a client fixes every problem in
one round trip. Every field is named the way the client knows it (`field_path`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BeforeValidator, StringConstraints, TypeAdapter, ValidationError
from pydantic.alias_generators import to_camel
from pydantic_core import ErrorDetails

from dealgraph.errors import ErrorCode

# Python keeps a surrogate only when it is unpaired (json.loads joins valid pairs into one character).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable_reason(text: str) -> str | None:
    """Why PostgreSQL cannot store `text` (NUL) or UTF-8 cannot encode it (a lone surrogate); None if it can.

    GraphQL strings are checked once for the whole request (`dealgraph.schema.text_guard`); text that
    is decoded later (a JSON transcript's escapes, a rendered prompt) is checked with this again.
    """
    match = _UNSTORABLE.search(text)
    if match is None:
        return None
    return "a NUL character (\\u0000)" if match[0] == "\x00" else "an unpaired UTF-16 surrogate"


Loc = str | Sequence[str | int]
"""Where a field is: a name, or the names from the argument down (`("input", "deal_id")`)."""


def field_path(loc: Loc) -> str:
    """The name a client knows a field by: its GraphQL (camelCase) names from the argument down, joined by dots.

    A position in a list is left out: the field is the list (`labels`), and the message says what is wrong.
    """
    parts = (loc,) if isinstance(loc, str) else loc
    return ".".join(to_camel(part) for part in parts if isinstance(part, str))


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    code: ErrorCode = ErrorCode.INVALID

    @classmethod
    def at(cls, loc: Loc, message: str, code: ErrorCode = ErrorCode.INVALID) -> FieldError:
        return cls(field_path(loc), message, code)


class InvalidInput(Exception):
    """Raised by mutation logic; the schema turns it into `errors` on the payload (nothing is saved)."""

    def __init__(self, *errors: FieldError) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors

    @classmethod
    def at(cls, loc: Loc, message: str, code: ErrorCode = ErrorCode.INVALID) -> InvalidInput:
        return cls(FieldError.at(loc, message, code))


def text(max_length: int) -> StringConstraints:
    """Text a person typed: surrounding white space dropped, then neither blank nor over `max_length` characters."""
    return StringConstraints(strip_whitespace=True, min_length=1, max_length=max_length)


def _blank_is_none(value: object) -> object:
    return (value.strip() or None) if isinstance(value, str) else value


BLANK_IS_NONE = BeforeValidator(_blank_is_none)
"""For optional text: surrounding white space dropped, and nothing left means not given (stored as null)."""

# pydantic's error types, in this API's words (`ctx` fills the braces).
_WORDING: Mapping[str, str] = {
    "string_too_short": "must not be blank",
    "string_too_long": "must be at most {max_length} characters",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "greater_than_equal": "must be at least {ge}",
    "less_than_equal": "must be at most {le}",
    "decimal_max_places": "must have at most {decimal_places} decimals",
}

Fields = TypeVar("Fields", bound=Mapping[str, Any])


class Rules(Generic[Fields]):
    """The field rules of an input: a `TypedDict` (total=False) whose fields carry pydantic constraints.

    A field left out is not checked (partial updates send only what changes); a field given as null
    where null is not allowed "must not be null". `wording` says how a refusal of one field reads where
    the general wording would be vague: `{("currency", "string_pattern_mismatch"): "must be ... like USD"}`.
    """

    def __init__(self, fields: type[Fields], wording: Mapping[tuple[str, str], str] | None = None) -> None:
        self._adapter: TypeAdapter[Fields] = TypeAdapter(fields)
        self._wording = wording or {}

    def validate(self, values: Mapping[str, Any], at: Sequence[str] = ()) -> Fields:
        """The given fields, normalized (stripped, ...); InvalidInput naming every field that breaks a rule."""
        try:
            return self._adapter.validate_python(values)
        except ValidationError as invalid:
            raise InvalidInput(*(self._field_error(error, at) for error in invalid.errors())) from None

    def _field_error(self, error: ErrorDetails, at: Sequence[str]) -> FieldError:
        loc = error["loc"]
        return FieldError.at((*at, *loc), self._message(str(loc[0]), error))

    def _message(self, field: str, error: ErrorDetails) -> str:
        if error["input"] is None:
            return "must not be null"
        wording = self._wording.get((field, error["type"])) or _WORDING.get(error["type"])
        return wording.format(**error.get("ctx", {})) if wording else error["msg"]


class Checker:
    """Collects every problem of an input, so a client fixes them all in one round trip.

    `at` is where the fields are, e.g. `("input",)` for a mutation's input object; none for arguments.
    """

    def __init__(self, *at: str) -> None:
        self.at = at
        self.errors: list[FieldError] = []

    def check(self, ok: bool, field: str, message: str, code: ErrorCode = ErrorCode.INVALID) -> None:
        if not ok:
            self.errors.append(FieldError.at((*self.at, field), message, code))

    def fields(self, rules: Rules[Fields], values: Mapping[str, Any]) -> Fields:
        """The values that pass `rules` (normalized); the problems of the others are collected."""
        try:
            return rules.validate(values, self.at)
        except InvalidInput as invalid:
            self.errors.extend(invalid.errors)
            return rules.validate({})

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(*self.errors)
