"""Count the SQL statements a client sends to PostgreSQL by reading its wire protocol through a proxy.

Server-side counters are not available everywhere (pg_stat_statements needs a preload and a restart,
log parsing needs the server's log file), and a driver-level hook misses what the driver does by
itself (asyncpg's BEGIN/COMMIT, SQLAlchemy's pre-ping). Every statement, whoever issues it, crosses
the wire as a simple `Query` or as an extended-protocol `Execute` of a portal bound to a parsed
statement, so a proxy that follows Parse -> Bind -> Execute sees them all, on any server.

Statements and round trips differ: a simple `Query` message may carry several statements
separated by semicolons (each is logged on its own), and it is one round trip, as is each `Sync`
that ends an extended-protocol exchange. Both are counted.

The proxy answers SSL/GSS encryption requests with "no" so the stream stays readable; use it only
on a trusted local link (benchmarks and tests), never in front of production traffic.
"""

from __future__ import annotations

import asyncio
import enum
import re
import struct
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy.engine import URL, make_url

_ENCRYPTION_REQUESTS = {80877103, 80877104}  # SSLRequest, GSSENCRequest
_CANCEL_REQUEST = 80877102


class Kind(enum.StrEnum):
    """What a statement is for: only DATA carries the request's rows; the rest is overhead."""

    DATA = "data"
    TRANSACTION = "begin/commit"
    """BEGIN, COMMIT, ROLLBACK (also those of the pre-ping)."""
    SCOPE = "set_config"
    """Role and tenant of a transaction."""
    PING = "pre-ping"
    """The pool's liveness probe (`;` or SELECT 1)."""
    SESSION = "conn-setup"
    """Once per new connection: dialect checks, type introspection."""


_TRANSACTION = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION|END)\b", re.IGNORECASE)
_PING = re.compile(r"^\s*(;|SELECT\s+1\s*;?)\s*$", re.IGNORECASE)
# What drivers run once per new connection: SQLAlchemy's dialect checks, asyncpg's type introspection.
_SESSION = re.compile(
    r"^\s*(SHOW\s|SET\s|select\s+pg_catalog\.version\(\)|select\s+current_schema\(\)|LISTEN\s|UNLISTEN\s)"
    r"|pg_catalog\.pg_type|typeinfo_tree|current_setting\('jit'\)|set_config\('jit'",
    re.IGNORECASE,
)


def classify(sql: str) -> Kind:
    if _PING.match(sql):
        return Kind.PING
    if _TRANSACTION.match(sql):
        return Kind.TRANSACTION
    if _SESSION.search(sql):
        return Kind.SESSION
    if "set_config(" in sql.lower():
        return Kind.SCOPE
    return Kind.DATA


@dataclass
class Capture:
    """What a stretch of client activity sent: its statements in order, and how many round trips."""

    statements: list[str] = field(default_factory=list)
    round_trips: int = 0


@dataclass
class StatementLog:
    """Executed statements in order; `window()` isolates what a stretch of client activity sent."""

    statements: list[str] = field(default_factory=list)
    round_trips: int = 0
    """Times a client waited for the server: simple `Query` messages and extended-protocol `Sync`s."""

    @contextmanager
    def window(self) -> Iterator[Capture]:
        captured = Capture()
        start, trips = len(self.statements), self.round_trips
        try:
            yield captured
        finally:
            captured.statements.extend(self.statements[start:])
            captured.round_trips = self.round_trips - trips


def by_kind(statements: list[str]) -> Counter[Kind]:
    return Counter(classify(sql) for sql in statements)


_STATEMENT_PARTS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|;|[^'\";]+")


def split_statements(sql: str) -> list[str]:
    """The statements of a simple-protocol query string: split at semicolons outside quotes.

    Enough for what the app sends (no dollar-quoted bodies in request-path SQL)."""
    statements, current = [], ""
    for part in _STATEMENT_PARTS.findall(sql):
        if part == ";":
            statements.append(current)
            current = ""
        else:
            current += part
    statements.append(current)
    return [statement.strip() for statement in statements if statement.strip()]


def _cstring(body: bytes, offset: int = 0) -> tuple[str, int]:
    end = body.index(b"\0", offset)
    return body[offset:end].decode("utf-8", "replace"), end + 1


class _FrontendParser:
    """Per-connection state of the extended protocol: named statements and bound portals."""

    def __init__(self, log: StatementLog) -> None:
        self.log = log
        self.prepared: dict[str, str] = {}
        self.portals: dict[str, str] = {}

    def message(self, kind: bytes, body: bytes) -> None:
        if kind == b"Q":
            self.log.statements.extend(split_statements(_cstring(body)[0]))
            self.log.round_trips += 1
        elif kind == b"S":
            self.log.round_trips += 1
        elif kind == b"P":
            name, offset = _cstring(body)
            self.prepared[name] = _cstring(body, offset)[0]
        elif kind == b"B":
            portal, offset = _cstring(body)
            statement = _cstring(body, offset)[0]
            self.portals[portal] = self.prepared.get(statement, "")
        elif kind == b"E":
            self.log.statements.append(self.portals.get(_cstring(body)[0], ""))
        elif kind == b"C" and body[:1] == b"S":
            self.prepared.pop(_cstring(body, 1)[0], None)


@dataclass(frozen=True)
class Upstream:
    """Where the proxy forwards to: a TCP address or a Unix socket path."""

    host: str | None = None
    port: int = 5432
    socket_path: str | None = None

    @classmethod
    def of(cls, url: URL) -> Upstream:
        host = url.query.get("host") or url.host
        if isinstance(host, tuple):
            host = host[0]
        port = url.port or 5432
        if host and host.startswith("/"):
            return cls(socket_path=str(Path(host) / f".s.PGSQL.{port}"))
        return cls(host=host or "127.0.0.1", port=port)

    async def open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.socket_path:
            return await asyncio.open_unix_connection(self.socket_path)
        return await asyncio.open_connection(self.host, self.port)


class CountingProxy:
    """A TCP proxy on 127.0.0.1 in front of one PostgreSQL server that logs every executed statement."""

    def __init__(self, database_url: str) -> None:
        self.target = make_url(database_url)
        self.upstream = Upstream.of(self.target)
        self.log = StatementLog()
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        """`database_url` rewritten to reach the same database through the proxy."""
        assert self._server is not None, "start() the proxy first"
        port = self._server.sockets[0].getsockname()[1]
        query = {k: v for k, v in self.target.query.items() if k != "host"}
        return self.target.set(host="127.0.0.1", port=port, query=query).render_as_string(hide_password=False)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def __aenter__(self) -> CountingProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            server_reader, server_writer = await self.upstream.open()
        except OSError:
            client_writer.close()
            return
        pumps = [
            asyncio.create_task(self._from_client(client_reader, client_writer, server_writer)),
            asyncio.create_task(self._pipe(server_reader, client_writer)),
        ]
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for pump in pumps:
                pump.cancel()
            for writer in (client_writer, server_writer):
                writer.close()

    async def _from_client(
        self, reader: asyncio.StreamReader, client: asyncio.StreamWriter, server: asyncio.StreamWriter
    ) -> None:
        try:
            while True:  # startup phase: untyped messages, possibly encryption requests first
                header = await reader.readexactly(8)
                length, code = struct.unpack("!II", header)
                if code in _ENCRYPTION_REQUESTS:
                    client.write(b"N")
                    await client.drain()
                    continue
                server.write(header + await reader.readexactly(length - 8))
                await server.drain()
                if code == _CANCEL_REQUEST:
                    return
                break
            parser = _FrontendParser(self.log)
            while True:
                header = await reader.readexactly(5)
                kind, length = header[:1], struct.unpack("!I", header[1:])[0]
                body = await reader.readexactly(length - 4)
                parser.message(kind, body)
                server.write(header + body)
                await server.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            return
