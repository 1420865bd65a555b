"""The PostgreSQL functions the application runs, one `CREATE OR REPLACE FUNCTION` per `.sql` file here.

The files are what a reader, a reviewer and `psql` see; migrations are what puts them in a database.
A migration loads the files it names (`load`) and pins each file's digest as it loaded it, so
`tests/test_sql_functions.py` can tell a file edited without a migration that loads it again.
Historical migrations keep their own copies of the text: a revision must do what it did when written.
"""

from __future__ import annotations

import hashlib
from importlib.resources import files


def names() -> list[str]:
    """Every function file, by name without `.sql`."""
    return sorted(entry.name.removesuffix(".sql") for entry in files(__name__).iterdir() if entry.name.endswith(".sql"))


def read(name: str) -> str:
    return files(__name__).joinpath(f"{name}.sql").read_text(encoding="utf-8")


def digest(name: str) -> str:
    """What a migration pins of a file: the first 16 hex digits of its SHA-256."""
    return hashlib.sha256(read(name).encode()).hexdigest()[:16]


def pinned(loaded: dict[str, str]) -> list[str]:
    """The files of a migration's `loaded` (name -> digest) that are still as that migration pinned them.

    A file edited since is left to the later migration that pins its new text (the test makes sure one
    does): an old revision never runs text written for a schema it predates."""
    return [read(name) for name, pin in loaded.items() if digest(name) == pin]
