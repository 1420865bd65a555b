"""Embedded PostgreSQL (pgserver: real Postgres binaries from a wheel) for zero-setup runs and tests."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

with warnings.catch_warnings():
    # pgserver asks platformdirs for a runtime dir at import; without a login session (containers, CI)
    # platformdirs warns and falls back to /tmp, which is fine: not worth a line on every command.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")
    import pgserver

from dealgraph.config import Settings

log = logging.getLogger(__name__)


def start_embedded_postgres(data_dir: Path, database: str = "dealgraph") -> str:
    """Start (or join, pgserver refcounts per data dir) the server and return a URL for `database`."""
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")
    if "(1 row)" not in exists:
        server.psql(f'CREATE DATABASE "{database}";')
    log.info("embedded PostgreSQL running in %s", data_dir)
    return server.get_uri(database)


def database_url_for(settings: Settings) -> str:
    """The configured server, or the embedded one when `DATABASE_URL` is unset."""
    return settings.database_url or start_embedded_postgres(settings.data_dir)
