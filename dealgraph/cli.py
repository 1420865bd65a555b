"""`dealgraph` command line: serve, work, migrate, bootstrap tenants and API keys, run the LLM stand-in."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import NoReturn

from dealgraph.bootstrap import prepare_database
from dealgraph.children import watch_supervisor
from dealgraph.config import Settings, get_settings
from dealgraph.db import migrate
from dealgraph.db.embedded import database_url_for
from dealgraph.db.models import Role
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database
from dealgraph.logs import configure_logging
from dealgraph.runs.check import AgentConfiguration, CheckResult
from dealgraph.runs.simulation import with_llm_access

# Commands that keep running and narrate what they do; the others answer in a line or two, so their
# logs stay at WARNING (failures still show) unless DEALGRAPH_LOG_LEVEL is set explicitly.
LONG_RUNNING = frozenset({"serve", "worker", "llm-standin", "migrate"})


def _database(settings: Settings) -> Database:
    return Database(database_url_for(settings), app_role=settings.app_role, pool_size=1)


def _with_database(
    action: Callable[[Database, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        async def main() -> int:
            database = _database(get_settings())
            try:
                return await action(database, args)
            finally:
                await database.dispose()

        return asyncio.run(main())

    return run


def serve(args: argparse.Namespace) -> int:
    import uvicorn

    from dealgraph.server.app import create_app
    from dealgraph.server.protocol import uvicorn_options

    settings, standin = with_llm_access(get_settings())
    host, port = args.host or settings.host, args.port or settings.port
    try:
        workers = args.workers or settings.workers
        if workers > 1:
            from dealgraph.server.workers import serve_workers

            serve_workers(settings, host, port, workers)
        else:
            uvicorn.run(  # log_config=None: uvicorn's lines go through our handler (format, request context)
                create_app(settings),
                host=host,
                port=port,
                log_config=None,
                access_log=settings.access_log,  # off by default: a log line per request costs the hot path
                **uvicorn_options(settings),
            )
    finally:
        if standin:
            standin.stop()
    return 0


async def _configurations(settings: Settings) -> tuple[list[AgentConfiguration], str]:
    """The production versions' configurations from the database, or the built-ins when it has none yet."""
    from dealgraph.agents.kinds import AgentKind
    from dealgraph.db.repositories import prompts
    from dealgraph.runs.check import builtin_configurations

    database = _database(settings)
    try:
        async with database.owner_session() as session:
            rows = await prompts.production_configurations(session)
    except Exception as error:  # noqa: BLE001 - no database yet: check what a fresh install would send
        return builtin_configurations(
            settings
        ), f"built-in prompt versions (database not readable: {type(error).__name__})"
    finally:
        await database.dispose()
    if not rows:
        return builtin_configurations(settings), "built-in prompt versions (none in the database yet)"
    configurations = [AgentConfiguration(AgentKind(agent), model, effort) for agent, model, effort in rows]  # type: ignore[arg-type]
    return configurations, "every production prompt version in the database"


def llm_check(args: argparse.Namespace) -> int:
    from dealgraph.runs.check import check_agents

    configured = get_settings()
    settings, standin = with_llm_access(configured, quiet=True)
    if standin is not None:
        print(
            f"No ANTHROPIC_API_KEY: checking against the local stand-in at {standin.base_url} (simulated; "
            "it enforces the documented API rules, it is not Claude)."
        )
    else:
        print(f"Checking against the Messages API at {settings.anthropic_base_url or 'https://api.anthropic.com'}.")

    async def check() -> list[CheckResult]:
        configurations, source = await _configurations(settings)
        print(f"Configurations: {source}; cache sharing: {settings.cache_sharing}.")
        return await check_agents(settings, configurations)

    try:
        results = asyncio.run(check())
    finally:
        if standin:
            standin.stop()
    for result in results:
        print(result.line())
    return 0 if all(result.accepted for result in results) else 1


def worker(args: argparse.Namespace) -> int:
    settings, standin = with_llm_access(get_settings())
    if settings.worker_slots < 1:
        print("DEALGRAPH_WORKER_SLOTS must be at least 1 for a worker", file=sys.stderr)
        return 2
    try:
        asyncio.run(_work_until_stopped(settings))
    finally:
        if standin:
            standin.stop()
    return 0


async def _work_until_stopped(settings: Settings) -> None:
    """Execute runs until SIGINT/SIGTERM; unfinished runs are handed back to the queue on the way out."""
    from dealgraph.runs.engine import analysis_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    database = _database(settings)
    try:
        await prepare_database(database, settings, apply_migrations=settings.auto_migrate)
        async with analysis_engine(database, settings):
            await stop.wait()
    finally:
        await database.dispose()


def llm_standin(args: argparse.Namespace) -> NoReturn:
    """Replaces this process with the stand-in's own (`python -m dealgraph.standin`), which imports nothing of the
    server: the command line never loads the stand-in's code itself."""
    latencies = json.dumps(dict(args.latency or []))
    argv = [sys.executable, "-m", "dealgraph.standin", "--host", args.host, "--port", str(args.port)]
    os.execv(sys.executable, [*argv, "--latencies", latencies])


def _latency(value: str) -> tuple[str, float]:
    agent, _, seconds = value.partition("=")
    try:
        return agent, float(seconds)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected AGENT=SECONDS, got {value!r}") from None


async def migrate_command(database: Database, args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.direction == "upgrade":
        await migrate.upgrade(database.engine, settings.app_role, args.revision or "head")
        if args.revision in (None, "head"):
            await prepare_database(database, settings, apply_migrations=False)
    else:
        await migrate.downgrade(database.engine, settings.app_role, args.revision or "-1")
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63] or "tenant"


async def tenant_create(database: Database, args: argparse.Namespace) -> int:
    await prepare_database(database, get_settings(), apply_migrations=True)
    async with database.owner_session() as session:
        tenant = await tenancy.create_tenant(session, args.name, args.slug or _slug(args.name))
    print(f"tenant {tenant.slug} created (id {tenant.id})")
    return 0


async def apikey_create(database: Database, args: argparse.Namespace) -> int:
    async with database.owner_session() as session:
        tenant = await tenancy.tenant_by_slug(session, args.tenant)
        if tenant is None:
            print(f"no tenant with slug {args.tenant!r}", file=sys.stderr)
            return 1
        role = Role(args.role)
        user = await tenancy.ensure_user(session, tenant, args.email or f"{role.value}@{tenant.slug}", role)
        issued = await tenancy.issue_api_key(session, user, args.name)
    print(f"API key for {user.email} ({role.value}) in {tenant.slug}; it is shown only this once:")
    print(issued.key)
    return 0


async def apikey_revoke(database: Database, args: argparse.Namespace) -> int:
    async with database.owner_session() as session:
        revoked = await tenancy.revoke_api_key(session, args.prefix)
    print(f"revoked {revoked} key(s)")
    return 0 if revoked else 1


async def reembed_command(database: Database, args: argparse.Namespace) -> int:
    from dealgraph.search.reembed import reembed

    await prepare_database(database, get_settings(), apply_migrations=True)
    try:
        done = await reembed(database, get_settings())
    except RuntimeError as error:
        print(error, file=sys.stderr)
        return 1
    print(f"re-embedded {done} transcript(s)")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    from dealgraph.schema import schema

    print(schema.as_str())
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dealgraph", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve_parser = commands.add_parser("serve", help="run the API server (GraphiQL at /graphql)")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=int)
    serve_parser.add_argument(
        "--workers", type=int, help="API processes sharing the port (default: DEALGRAPH_WORKERS, one per core)"
    )
    serve_parser.set_defaults(run=serve)

    migrate_parser = commands.add_parser("migrate", help="apply or roll back database migrations")
    migrate_parser.add_argument("direction", choices=["upgrade", "downgrade"], nargs="?", default="upgrade")
    migrate_parser.add_argument("revision", nargs="?", help="default: head for upgrade, -1 for downgrade")
    migrate_parser.set_defaults(run=_with_database(migrate_command))

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    tenant_create_parser = tenant.add_parser("create", help="create a tenant")
    tenant_create_parser.add_argument("name")
    tenant_create_parser.add_argument("--slug")
    tenant_create_parser.set_defaults(run=_with_database(tenant_create))

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True)
    create = apikey.add_parser("create", help="create a user (if needed) and an API key; prints the key once")
    create.add_argument("--tenant", required=True, help="tenant slug")
    create.add_argument("--role", choices=[r.value for r in Role], default=Role.MEMBER.value)
    create.add_argument("--email", help="default: <role>@<tenant slug>")
    create.add_argument("--name", default="cli", help="label for the key")
    create.set_defaults(run=_with_database(apikey_create))
    revoke = apikey.add_parser("revoke", help="revoke keys by their shown prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_with_database(apikey_revoke))

    worker_parser = commands.add_parser("worker", help="execute analysis runs (no HTTP); scale out with more")
    worker_parser.set_defaults(run=worker)

    standin = commands.add_parser("llm-standin", help="serve the local Anthropic Messages API stand-in (simulated)")
    standin.add_argument("--host", default="127.0.0.1")
    standin.add_argument("--port", type=int, default=8787)
    standin.add_argument(
        "--latency",
        type=_latency,
        action="append",
        metavar="AGENT=SECONDS",
        help="simulated response time of an agent, e.g. meddpicc=3 (repeatable)",
    )
    standin.set_defaults(run=llm_standin)

    llm = commands.add_parser("llm", help="check the Claude configuration").add_subparsers(dest="action", required=True)
    llm_check_parser = llm.add_parser(
        "check", help="send each agent's smallest real request; print accepted or the API's exact error"
    )
    llm_check_parser.set_defaults(run=llm_check)

    reembed_parser = commands.add_parser(
        "reembed", help="embed transcripts not yet embedded with the configured model (resumable)"
    )
    reembed_parser.set_defaults(run=_with_database(reembed_command))

    schema_parser = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema_parser.set_defaults(run=print_schema)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = get_settings()
    explicit = "log_level" in settings.model_fields_set
    level = settings.log_level if explicit or args.command in LONG_RUNNING else "WARNING"
    configure_logging(level, settings.log_format)
    watch_supervisor()  # a child of `serve` (stand-in, worker pool) stops when its parent is gone
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
