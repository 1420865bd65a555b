"""PostgreSQL for tests and benches: which server to use, scratch databases on it, and a migrated template per
server to clone them from.

A server URL may be given in either form `DATABASE_URL` accepts (`postgresql://…` or `postgresql+asyncpg://…`);
databases made here keep the form of their server's URL, so the product sees what the user gave, and connections
of the harness's own go through `asyncpg_dsn`.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from dealgraph.config import Settings
from dealgraph.db import migrate
from dealgraph.db.embedded import pgserver, start_embedded_postgres
from dealgraph.db.session import Database

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"


def configured_server() -> tuple[str, str] | None:
    """(URL, the variable it came from), if the environment names a PostgreSQL server."""
    for variable in ("TEST_DATABASE_URL", "DATABASE_URL"):
        if url := os.environ.get(variable):
            return url, variable
    return None


def asyncpg_dsn(url: str) -> str:
    """A database URL as asyncpg takes it (no SQLAlchemy driver suffix)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def url_of(server_url: str, database: str) -> str:
    """The URL of `database` on the server of `server_url`, in the same form."""
    return make_url(server_url).set(database=database).render_as_string(hide_password=False)


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of the harness's own to the database at `url` (either URL form), closed at the end."""
    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        yield connection
    finally:
        await connection.close()


_NOT_CRASH_SAFE = ("fsync = off", "synchronous_commit = off", "full_page_writes = off")


@contextmanager
def embedded_server(prefix: str, *, crash_safe: bool = True) -> Iterator[str]:
    """An embedded PostgreSQL (pgserver) in a temporary directory, stopped at the end; yields its maintenance URL.

    Not `crash_safe`, its writes are not flushed to disk: the test suite's server, deleted at the end, needs
    none of its data to survive a crash, and the flushes cost a run of the suite about 20 s of the kernel's CPU
    (its block I/O workers). The benches keep the default, as a user's server runs."""
    with tempfile.TemporaryDirectory(prefix=prefix) as data_dir:
        path = Path(data_dir)
        url = start_embedded_postgres(path, database="postgres")
        server = pgserver.get_server(path)
        try:
            if not crash_safe:
                server.psql(
                    "".join(f"ALTER SYSTEM SET {line};" for line in _NOT_CRASH_SAFE) + "SELECT pg_reload_conf();"
                )
            yield url
        finally:
            server.cleanup()


@contextmanager
def postgres_server(choice: str = "auto", prefix: str = "dealgraph-pg-") -> Iterator[tuple[str, str]]:
    """(URL of a maintenance database, where the server comes from); an embedded one is stopped at the end.

    `auto`: TEST_DATABASE_URL / DATABASE_URL when set, else embedded; `local`: 127.0.0.1:5432; `embedded`."""
    if choice == "local":
        yield LOCAL_SERVER, "local server 127.0.0.1:5432"
        return
    configured = configured_server() if choice == "auto" else None
    if configured:
        yield configured
        return
    with embedded_server(prefix) as url:
        yield url, "embedded pgserver in a temporary directory"


@dataclass(frozen=True)
class ScratchDatabase:
    url: str
    name: str
    version: str
    """The server's `server_version`, for reports."""


@asynccontextmanager
async def fresh_database(
    server_url: str, *, template: str | None = None, prefix: str = "dealgraph_scratch"
) -> AsyncIterator[ScratchDatabase]:
    """A new database on the server (empty, or a copy of `template`), dropped at the end."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    async with connected(server_url) as admin:
        version = await admin.fetchval("SHOW server_version")
        await admin.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        try:
            yield ScratchDatabase(url_of(server_url, name), name, version)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def migrations_digest() -> str:
    """A short hash of the migration scripts: a template's name says which schema it holds."""
    digest = hashlib.sha256()
    for script in sorted(migrate.MIGRATIONS_DIR.rglob("*.py")):
        digest.update(script.relative_to(migrate.MIGRATIONS_DIR).as_posix().encode())
        digest.update(script.read_bytes())
    return digest.hexdigest()[:10]


class MigratedTemplates:
    """One database per server migrated to head, which scratch databases are cloned from (`CREATE DATABASE …
    TEMPLATE …` copies files: tens of milliseconds, where running the migrations takes seconds).

    Made on first use for each server and dropped by `drop_all`. Its name holds the migrations' hash and a random
    part, so several runs sharing one server (CI runs two side by side) never clone or drop each other's.
    `shared` names templates made by someone else (pytest-xdist's controller, for all its workers): they are
    cloned from, never made or dropped here.

        templates = MigratedTemplates()
        async with templates.clone(server_url) as database:
            ...  # database.url: a migrated database of its own
        await templates.drop_all()
    """

    def __init__(
        self, app_role: str = Settings.model_fields["app_role"].default, *, shared: Mapping[str, str] | None = None
    ) -> None:
        self.app_role = app_role
        self._shared = dict(shared or {})
        self._names: dict[str, str] = {}

    async def template_for(self, server_url: str) -> str:
        if server_url in self._shared:
            return self._shared[server_url]
        if server_url not in self._names:
            name = f"dealgraph_template_{migrations_digest()}_{uuid.uuid4().hex[:8]}"
            async with connected(server_url) as admin:
                await admin.execute(f'CREATE DATABASE "{name}"')
            self._names[server_url] = name  # from here on `drop_all` removes it, migrated or not
            database = Database(url_of(server_url, name), app_role=self.app_role, pool_size=1)
            try:
                await migrate.upgrade(database.engine, self.app_role)
            finally:
                await database.dispose()  # a template with a connection open cannot be cloned
        return self._names[server_url]

    @asynccontextmanager
    async def clone(self, server_url: str) -> AsyncIterator[ScratchDatabase]:
        """A migrated database of its own on the server, dropped at the end."""
        template = await self.template_for(server_url)
        async with fresh_database(server_url, template=template, prefix="dealgraph_test") as database:
            yield database

    async def drop_all(self) -> None:
        """Drop every template made; a server already stopped (an embedded one of a module's own) took its
        template with it."""
        for server_url, name in self._names.items():
            with suppress(OSError):
                async with connected(server_url) as admin:
                    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._names.clear()
