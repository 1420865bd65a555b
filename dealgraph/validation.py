"""Validation problems a client can fix, reported per field instead of failing the whole request."""

from __future__ import annotations

import re
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    message: str
    code: ErrorCode = ErrorCode.INVALID


class InvalidInput(Exception):
    """Raised by mutation logic; the schema turns it into `errors` on the payload (nothing is saved)."""

    def __init__(self, *errors: FieldError) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors = errors


class Checker:
    """Collects every problem of an input, so a client fixes them all in one round trip."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def check(self, ok: bool, field: str, message: str, code: ErrorCode = ErrorCode.INVALID) -> None:
        if not ok:
            self.errors.append(FieldError(field, message, code))

    def text(self, value: str | None, field: str, *, max_length: int, required: bool = True) -> str | None:
        if value is None:
            self.check(not required, field, "is required")
            return None
        cleaned = value.strip()
        self.check(bool(cleaned) or not required, field, "must not be blank")
        self.check(len(cleaned) <= max_length, field, f"must be at most {max_length} characters")
        return cleaned or None

    def raise_if_any(self) -> None:
        if self.errors:
            raise InvalidInput(*self.errors)
