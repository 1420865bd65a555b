"""The test harness itself: module databases are clones of a migrated template, independent of each other, and
the template is gone once the run ends; either URL form of a server works; a port given to a server to start is
nobody else's."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

from dealgraph.db import migrate
from harness.ports import free_port
from harness.postgres import MigratedTemplates, connected, migrations_digest, url_of

HEAD = migrate.head_revision()  # alembic's own head: tests/test_migrations.py


async def _revision(url: str) -> str | None:
    async with connected(url) as connection:
        revision: str | None = await connection.fetchval("SELECT version_num FROM alembic_version")
    return revision


async def _databases(server_url: str, like: str) -> set[str]:
    async with connected(server_url) as connection:
        return {row[0] for row in await connection.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", like)}


async def test_the_module_database_is_migrated_to_head(database_url: str) -> None:
    assert HEAD is not None and await _revision(database_url) == HEAD


async def test_clones_are_independent_and_the_template_is_dropped_at_the_end(server_url: str) -> None:
    sqlalchemy_form = url_of(server_url, "postgres").replace("postgresql://", "postgresql+asyncpg://", 1)
    templates = MigratedTemplates()
    try:
        async with templates.clone(sqlalchemy_form) as one, templates.clone(sqlalchemy_form) as two:
            assert one.url.startswith("postgresql+asyncpg://") and one.name != two.name
            assert await _revision(one.url) == await _revision(two.url) == HEAD
            async with connected(one.url) as writer:
                await writer.execute("UPDATE alembic_version SET version_num = 'changed'")
            assert await _revision(two.url) == HEAD  # a clone's changes stay in it
        mine = await templates.template_for(sqlalchemy_form)
        assert mine.startswith(f"dealgraph_template_{migrations_digest()}_")
        assert mine in await _databases(server_url, "dealgraph_template_%")
    finally:
        await templates.drop_all()
    assert mine not in await _databases(server_url, "dealgraph_template_%")


def test_a_port_given_out_is_nobody_elses_until_its_process_exits() -> None:
    """Outside the range the OS hands out for port 0, and locked against every other process that asks."""
    port = free_port()
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert 1024 <= port < low
    with socket.socket() as server:
        server.bind(("127.0.0.1", port))  # as the server it is for will
    elsewhere = subprocess.run(
        [sys.executable, "-c", f"from harness.ports import claim; print(claim({port}))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert elsewhere.stdout.strip() == "False"  # bindable, as just seen: held by this process's lock
    assert free_port() != port
