"""`dealgraph` command line: serve, run the analysis pool, migrate, bootstrap tenants and API keys, run the LLM
stand-in.

Everything beyond the standard library is imported inside the command that needs it: the server, the agents
and the Claude SDK take seconds to import, which `--help` and the one-line commands should not wait for. A
user's mistake (a taken slug, an unknown key, an unreachable database, a bad setting) is said in one line on
stderr with a non-zero exit, never as a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from dealgraph.config import Settings
    from dealgraph.db.session import Database
    from dealgraph.runs.check import AgentConfiguration, CheckResult

# Commands that keep running and narrate what they do; the others answer in a line or two, so their
# logs stay at WARNING (failures still show) unless DEALGRAPH_LOG_LEVEL is set explicitly.
LONG_RUNNING = frozenset({"serve", "analysis-pool", "worker", "llm-standin", "migrate"})
# The exit status of a process killed by SIGPIPE, what a shell reports for any program whose reader left early.
_BROKEN_PIPE_STATUS = 128 + signal.SIGPIPE
_STARTED = time.monotonic()  # about when the command was typed: imports below this take the seconds
_TENANT_NAME_MAX = 200  # the columns' sizes (dealgraph/db/models/tenancy.py)
_SLUG_MAX = 63
_EMAIL_MAX = 320
_KEY_NAME_MAX = 200


class CommandError(Exception):
    """A mistake the user can fix, said in one line: `main` prints it and exits 1, without a traceback."""


def _database(settings: Settings) -> Database:
    from dealgraph.db.embedded import database_url_for
    from dealgraph.db.session import Database

    return Database(database_url_for(settings), app_role=settings.app_role, pool_size=1)


def _with_database(
    action: Callable[[Database, argparse.Namespace], Awaitable[int]],
) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        from dealgraph.config import get_settings

        async def main() -> int:
            database = _database(get_settings())
            try:
                return await action(database, args)
            finally:
                await database.dispose()

        return asyncio.run(main())

    return run


def serve(args: argparse.Namespace) -> int:
    from dealgraph.server.heap import importing

    with importing():
        from dealgraph.config import get_settings
        from dealgraph.runs.simulation import with_llm_access
        from dealgraph.server.api_processes import serve_api

    settings, standin = with_llm_access(get_settings())
    try:
        serve_api(
            settings,
            args.host or settings.host,
            args.port or settings.port,
            args.api_processes or settings.api_processes,
            started=_STARTED,
        )
    finally:
        if standin:
            standin.stop()
    return 0


async def _configurations(settings: Settings) -> tuple[list[AgentConfiguration], str]:
    """The production versions' configurations from the database, or the built-ins when it has none yet."""
    from dealgraph.agents.kinds import AgentKind
    from dealgraph.agents.registry import AGENT_NAMES
    from dealgraph.db.repositories import prompts
    from dealgraph.runs.check import AgentConfiguration, builtin_configurations

    database = _database(settings)
    try:
        async with database.owner_session() as session:
            rows = await prompts.production_versions(session, AGENT_NAMES)
    except Exception as error:  # noqa: BLE001 - no database yet: check what a fresh install would send
        return builtin_configurations(
            settings
        ), f"built-in prompt versions (database not readable: {type(error).__name__})"
    finally:
        await database.dispose()
    if not rows:
        return builtin_configurations(settings), "built-in prompt versions (none in the database yet)"
    configurations = [AgentConfiguration(AgentKind(agent), version) for agent, version in rows]
    return configurations, "every production prompt version in the database"


def llm_check(args: argparse.Namespace) -> int:
    import logging

    from dealgraph.config import get_settings
    from dealgraph.runs.check import check_agents, check_batch
    from dealgraph.runs.simulation import with_llm_access

    # the stand-in logs at this command's level: its start-up lines are not part of the answer
    standin_log_level = logging.getLevelName(logging.getLogger().getEffectiveLevel())
    settings, standin = with_llm_access(get_settings(), quiet=True, standin_log_level=standin_log_level)
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
        results = await check_agents(settings, configurations)
        if standin is None and configurations:  # a key: the Message Batches API too, on the real output format
            results.append(await check_batch(settings, configurations[0], wait_s=args.batch_wait))
        return results

    try:
        results = asyncio.run(check())
    finally:
        if standin:
            standin.stop()
    for result in results:
        print(result.line())
    return 0 if all(result.accepted for result in results) else 1


def analysis_pool(args: argparse.Namespace) -> int:
    from dealgraph.config import get_settings
    from dealgraph.runs.simulation import with_llm_access

    configured = get_settings()
    if configured.analysis_slots < 1:
        raise CommandError("DEALGRAPH_ANALYSIS_SLOTS must be at least 1 for an analysis pool")
    settings, standin = with_llm_access(configured)
    try:
        asyncio.run(_analyse_until_stopped(settings))
    finally:
        if standin:
            standin.stop()
    return 0


async def _analyse_until_stopped(settings: Settings) -> None:
    """Execute runs until SIGINT/SIGTERM; unfinished runs are handed back to the queue on the way out."""
    from dealgraph.server.heap import importing

    with importing():
        from dealgraph.bootstrap import prepare_database
        from dealgraph.observability.setup import observe, stop_observing
        from dealgraph.runs.engine import analysis_engine

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    observe(settings)  # its runs count in the metrics of the `serve` that started it (its shared directory)
    database = _database(settings)
    try:
        await prepare_database(database, settings, apply_migrations=settings.auto_migrate)
        async with analysis_engine(database, settings) as engine:
            with importing():  # the SDK, now rather than at the first run: this process is here to call Claude
                engine.llm.sdk  # noqa: B018
            await stop.wait()
    finally:
        await database.dispose()
        stop_observing()


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


def _port(value: str) -> int:
    """An argument type: a TCP port number."""
    if not value.isdigit() or int(value) > 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {value!r}")
    return int(value)


def _text(limit: int) -> Callable[[str], str]:
    """An argument type: non-blank text of at most `limit` characters (the column it is stored in)."""

    def checked(value: str) -> str:
        if not value.strip():
            raise argparse.ArgumentTypeError("must not be empty")
        if len(value) > limit:
            raise argparse.ArgumentTypeError(f"at most {limit} characters, got {len(value)}")
        return value

    return checked


class _Roles:
    """The role names, read from the model when argparse first asks: importing it loads SQLAlchemy, which
    `dealgraph --help` should not wait for."""

    def _names(self) -> list[str]:
        from dealgraph.db.models import Role

        return [role.value for role in Role]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __contains__(self, value: object) -> bool:
        return value in self._names()


async def migrate_command(database: Database, args: argparse.Namespace) -> int:
    from dealgraph.bootstrap import prepare_database
    from dealgraph.config import get_settings
    from dealgraph.db import migrate

    settings = get_settings()
    try:
        if args.direction == "upgrade":
            await migrate.upgrade(database.engine, settings.app_role, args.revision or "head")
        else:
            await migrate.downgrade(database.engine, settings.app_role, args.revision or "-1")
    except migrate.RevisionError as error:
        raise CommandError(f"migrate {args.direction}: {error}") from None
    if args.direction == "upgrade" and args.revision in (None, "head"):
        await prepare_database(database, settings, apply_migrations=False)
    return 0


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:_SLUG_MAX] or "tenant"


async def tenant_create(database: Database, args: argparse.Namespace) -> int:
    from sqlalchemy.exc import IntegrityError

    from dealgraph.config import get_settings
    from dealgraph.db import migrate
    from dealgraph.db.repositories import tenancy

    # A fresh install's first command: the schema, but not the built-in prompts, whose output schemas need the
    # Claude SDK (seconds to import); `serve` and `migrate` load those.
    await migrate.upgrade(database.engine, get_settings().app_role)
    slug = args.slug or _slug(args.name)
    try:
        async with database.owner_session() as session:
            tenant = await tenancy.create_tenant(session, args.name, slug)
    except IntegrityError:  # the slug is the tenants' one unique column
        raise CommandError(f"a tenant with slug {slug!r} already exists (choose another with --slug)") from None
    print(f"tenant {tenant.slug} created (id {tenant.id})")
    return 0


async def apikey_create(database: Database, args: argparse.Namespace) -> int:
    from dealgraph.db.models import Role
    from dealgraph.db.repositories import tenancy

    async with database.owner_session() as session:
        tenant = await tenancy.tenant_by_slug(session, args.tenant)
        if tenant is None:
            raise CommandError(f"no tenant with slug {args.tenant!r}")
        role = Role(args.role) if args.role else Role.MEMBER
        user = await tenancy.ensure_user(session, tenant, args.email or f"{role.value}@{tenant.slug}", role)
        issued = await tenancy.issue_api_key(session, user, args.name)
    print(f"API key for {user.email} ({role.value}) in {tenant.slug}; it is shown only this once:")
    print(issued.key)
    return 0


async def apikey_revoke(database: Database, args: argparse.Namespace) -> int:
    from dealgraph.db.repositories import tenancy

    async with database.owner_session() as session:
        revoked = await tenancy.revoke_api_key(session, args.prefix)
    if not revoked:
        raise CommandError(f"no live API key with prefix {args.prefix!r} (the prefix is the key's first 11 characters)")
    print(f"revoked {revoked} key(s)")
    return 0


async def reembed_command(database: Database, args: argparse.Namespace) -> int:
    from dealgraph.bootstrap import prepare_database
    from dealgraph.config import get_settings
    from dealgraph.search.reembed import reembed

    await prepare_database(database, get_settings(), apply_migrations=True)
    try:
        done = await reembed(database, get_settings())
    except RuntimeError as error:
        raise CommandError(str(error)) from None
    print(f"re-embedded {done} transcript(s)")
    return 0


def print_schema(args: argparse.Namespace) -> int:
    from dealgraph.schema import schema

    print(schema.as_str())
    return 0


class _Deprecated(argparse.Action):
    """An old spelling still accepted: stores its value under the new option's name and notes the rename, which
    `main` logs once logging is set up."""

    def __init__(self, option_strings: list[str], dest: str, *, replacement: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, help=argparse.SUPPRESS, **kwargs)  # type: ignore[arg-type]
        self.replacement = replacement

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, values)
        # a subcommand parses into a namespace of its own, without the top parser's defaults
        earlier = getattr(namespace, "deprecated", [])
        namespace.deprecated = [*earlier, f"{option_string} is deprecated: use {self.replacement}"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dealgraph", description=__doc__.split("\n\n")[0])
    parser.set_defaults(deprecated=[])
    # metavar: the listing names the commands in the help below, so the hidden old spellings stay hidden
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve_parser = commands.add_parser("serve", help="run the API server (GraphiQL at /graphql)")
    serve_parser.add_argument("--host")
    serve_parser.add_argument("--port", type=_port)
    serve_parser.add_argument(
        "--api-processes",
        type=int,
        metavar="N",
        help="API processes sharing the port (default: DEALGRAPH_API_PROCESSES, one per core); with more than one, "
        "the analysis pool runs in a process of its own",
    )
    serve_parser.add_argument(
        "--workers", type=int, dest="api_processes", action=_Deprecated, replacement="--api-processes"
    )
    serve_parser.set_defaults(run=serve)

    migrate_parser = commands.add_parser("migrate", help="apply or roll back database migrations")
    migrate_parser.add_argument("direction", choices=["upgrade", "downgrade"], nargs="?", default="upgrade")
    migrate_parser.add_argument("revision", nargs="?", help="default: head for upgrade, -1 for downgrade")
    migrate_parser.set_defaults(run=_with_database(migrate_command))

    tenant = commands.add_parser("tenant", help="manage tenants").add_subparsers(dest="action", required=True)
    tenant_create_parser = tenant.add_parser("create", help="create a tenant")
    tenant_create_parser.add_argument("name", type=_text(_TENANT_NAME_MAX))
    tenant_create_parser.add_argument("--slug", type=_text(_SLUG_MAX), help="default: made from the name")
    tenant_create_parser.set_defaults(run=_with_database(tenant_create))

    apikey = commands.add_parser("apikey", help="manage API keys").add_subparsers(dest="action", required=True)
    create = apikey.add_parser("create", help="create a user (if needed) and an API key; prints the key once")
    create.add_argument("--tenant", required=True, help="tenant slug")
    create.add_argument("--role", choices=_Roles(), metavar="ROLE", help="%(choices)s (default: member)")
    create.add_argument("--email", type=_text(_EMAIL_MAX), help="default: <role>@<tenant slug>")
    create.add_argument("--name", type=_text(_KEY_NAME_MAX), default="cli", help="label for the key")
    create.set_defaults(run=_with_database(apikey_create))
    revoke = apikey.add_parser("revoke", help="revoke keys by their shown prefix")
    revoke.add_argument("prefix")
    revoke.set_defaults(run=_with_database(apikey_revoke))

    pool_help = "run the analysis pool alone (executes agent runs; no HTTP); scale out with more"
    commands.add_parser("analysis-pool", help=pool_help).set_defaults(run=analysis_pool)
    commands.add_parser("worker").set_defaults(  # the old name, hidden from the help
        run=analysis_pool, deprecated=["`dealgraph worker` is deprecated: use `dealgraph analysis-pool`"]
    )

    standin = commands.add_parser("llm-standin", help="serve the local Anthropic Messages API stand-in (simulated)")
    standin.add_argument("--host", default="127.0.0.1")
    standin.add_argument("--port", type=_port, default=8787)
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
        "check",
        help="send what each production prompt version's runs send, on a built-in sample call; print accepted "
        "(with the prompt cache's writes and reads) or the API's exact error",
    )
    llm_check_parser.add_argument(
        "--batch-wait",
        type=float,
        default=600.0,
        metavar="SECONDS",
        help="with a key, how long to wait for the one-request Message Batch to end before canceling it",
    )
    llm_check_parser.set_defaults(run=llm_check)

    reembed_parser = commands.add_parser(
        "reembed", help="embed transcripts not yet embedded with the configured model (resumable)"
    )
    reembed_parser.set_defaults(run=_with_database(reembed_command))

    schema_parser = commands.add_parser("schema", help="print the GraphQL schema (SDL)")
    schema_parser.set_defaults(run=print_schema)
    return parser


def _run(args: argparse.Namespace) -> int:
    import logging

    from dealgraph.children import watch_supervisor
    from dealgraph.config import adopt_renamed_environment, get_settings
    from dealgraph.logs import configure_logging

    settings = get_settings()
    explicit = "log_level" in settings.model_fields_set
    level = settings.log_level if explicit or args.command in LONG_RUNNING else "WARNING"
    configure_logging(level, settings.log_format)
    adopt_renamed_environment()
    for deprecation in args.deprecated:
        logging.getLogger(__name__).warning(deprecation)
    watch_supervisor()  # a child of `serve` (stand-in, analysis pool) stops when its parent is gone
    return int(args.run(args))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # here, so that a reader gone early shows as BrokenPipeError below, not at exit
    except BrokenPipeError:
        # The Python docs' recipe (library/signal, "Note on SIGPIPE"): stdout to devnull, so the interpreter's
        # own flush at exit fails no more, and exit as a program killed by SIGPIPE would.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return _BROKEN_PIPE_STATUS
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except Exception as error:
        message = _user_mistake(error)
        if message is None:
            raise
        print(f"dealgraph: {message}", file=sys.stderr)
        return 1
    return status


def _user_mistake(error: Exception) -> str | None:
    """One line for an error that a user's input or environment caused; None for a defect (its traceback shows)."""
    if isinstance(error, CommandError):
        return str(error)
    from pydantic import ValidationError

    if isinstance(error, ValidationError):  # a setting: name the variable to fix
        from dealgraph.config import variable_named

        return "; ".join(
            f"{variable_named(str(problem['loc'][0]))}: {problem['msg']} (got {problem['input']!r})"
            for problem in error.errors()
        )
    if "sqlalchemy" not in sys.modules:  # no database was opened: nothing else to explain
        return None
    from sqlalchemy.exc import ArgumentError, DBAPIError

    from dealgraph.db.outage import is_outage

    if isinstance(error, ArgumentError):
        return f"DATABASE_URL is not a database URL: {error}"
    if is_outage(error):
        return f"cannot reach the database at {_shown_database()}: {_first_line(error)}"
    if isinstance(error, DBAPIError):  # e.g. a wrong password or database name, or a value it does not take
        return f"the database at {_shown_database()} refused: {_first_line(error)}"
    return None


def _first_line(error: BaseException) -> str:
    """The reason alone: a DBAPIError's own text goes on with the SQL statement and a link."""
    reason = getattr(error, "orig", None) or error
    text = str(reason).strip()
    return text.splitlines()[0] if text else type(reason).__name__


def _shown_database() -> str:
    """Where the configured database is, without its password."""
    from urllib.parse import urlsplit

    from dealgraph.config import get_settings

    url = get_settings().database_url
    if url is None:
        return "(embedded)"
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return parts._replace(netloc=parts.netloc.replace(f":{parts.password}@", ":***@", 1)).geturl()


if __name__ == "__main__":
    sys.exit(main())
