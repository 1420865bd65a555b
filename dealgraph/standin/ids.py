"""Object ids shaped like the real API's (`msg_01…`, `toolu_01…`, `req_01…`), so SDK code that inspects them works."""

from __future__ import annotations

import secrets
import string

_ID_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str) -> str:
    return prefix + "01" + "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))
