"""The `dealgraph` command line, run as a real subprocess against the module's test database."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
from collections.abc import AsyncIterator

import httpx
import pytest

from harness.ports import free_port
from harness.postgres import MigratedTemplates
from harness.processes import CLI, run_command, running
from tests.analysis_support import AGENTS
from tests.processes import process_env, run_cli
from tests.support import REFUSAL_DEADLINE_S, GraphQLClient, TenantFactory, TenantHandle, refused_within

pytestmark = pytest.mark.processes

VIEWER = "{ viewer { role user { email } tenant { slug } } }"


async def test_tenant_and_key_lifecycle(database_url: str, gql: GraphQLClient) -> None:
    created = run_cli(database_url, "tenant", "create", "Wayne Enterprises")
    assert created.returncode == 0, created.stderr
    assert "tenant wayne-enterprises created" in created.stdout

    issued = run_cli(database_url, "apikey", "create", "--tenant", "wayne-enterprises", "--role", "member")
    assert issued.returncode == 0, issued.stderr
    key = issued.stdout.strip().splitlines()[-1]
    assert key.startswith("dg_")
    handle = TenantHandle(tenant_id=None, user_id=None, api_key=key)  # type: ignore[arg-type]
    data = await gql(VIEWER, as_=handle)
    assert data["viewer"] == {
        "role": "MEMBER",
        "user": {"email": "member@wayne-enterprises"},
        "tenant": {"slug": "wayne-enterprises"},
    }

    revoked = run_cli(database_url, "apikey", "revoke", key[:11])
    assert revoked.returncode == 0 and "revoked 1 key(s)" in revoked.stdout
    await refused_within(gql.http, handle, REFUSAL_DEADLINE_S)  # once the revoke's NOTIFY has arrived


def test_unknown_tenant_and_schema_output(database_url: str) -> None:
    missing = run_cli(database_url, "apikey", "create", "--tenant", "nobody")
    assert missing.returncode == 1 and "no tenant with slug 'nobody'" in missing.stderr
    sdl, loaded = importing({**os.environ, "DATABASE_URL": database_url}, "schema")
    assert sdl.returncode == 0 and "type Query {" in sdl.stdout and "searchTranscripts(" in sdl.stdout
    assert "strawberry" in loaded and "anthropic" not in loaded  # the SDK is loaded by the first request to Claude


def llm_check(database_url: str, **env: str) -> subprocess.CompletedProcess[str]:
    """As on a fresh install unless `env` says otherwise: no key (never a billed call from a test)."""
    hidden = {f"{prefix}ANTHROPIC_{name}" for prefix in ("", "DEALGRAPH_") for name in ("API_KEY", "BASE_URL")}
    hidden |= {"DEALGRAPH_DATABASE_URL", "DEALGRAPH_DATA_DIR"}
    clean = {k: v for k, v in os.environ.items() if k not in hidden}
    fast = json.dumps(dict.fromkeys(AGENTS, 0.05))  # what is checked is what is sent, not how long answers take
    return run_command(
        ["llm", "check"], clean | {"DATABASE_URL": database_url, "DEALGRAPH_STANDIN_LATENCIES": fast} | env
    )


def test_llm_check_without_a_key_runs_against_the_stand_in_and_says_so(untouched_database_url: str) -> None:
    checked = llm_check(untouched_database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stderr == ""  # the stand-in it started says nothing: the answer is all there is
    assert "No ANTHROPIC_API_KEY: checking against the local stand-in" in checked.stdout
    lines = [line for line in checked.stdout.splitlines() if "json_schema" in line]
    agents = ["meddpicc", "action_items", "stakeholders", "meeting_intelligence"]
    assert [line.split()[0] for line in lines] == [agent for agent in agents for _ in ("parallel", "leader")]
    assert [line.split()[4] for line in lines[:2]] == ["json_schema/parallel", "json_schema/leader"]
    assert all("claude-sonnet-5-5" in line and "accepted: stop_reason=end_turn" in line for line in lines)
    assert all("max_tokens=16000" in line for line in lines)  # the built-in versions' (DEALGRAPH_LLM_MAX_TOKENS)
    assert "effort=high" in lines[0] and "effort=medium" in lines[2]
    assert "(cache written 0 /" not in lines[1] and lines[1].endswith("; leads")
    assert all("/ read 0)" not in line and "follows meddpicc" in line for line in lines[3::2])


async def test_llm_check_sends_every_production_configuration(
    database_url: str, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """A tenant's production override (another model and effort) is checked too, not only the built-ins."""
    admin = await tenants.create()
    created = await gql(
        """mutation($input: PromptVersionInput!) { createPromptVersion(input: $input) { errors { field message } } }""",
        {
            "input": {
                "agent": "MEDDPICC",
                "systemText": "Qualify the deal.",
                "userTemplate": "Run {{ agent }}.",
                "model": "claude-haiku-5-5",
                "effort": "LOW",
                "labels": ["production"],
            }
        },
        as_=admin,
    )
    assert created["createPromptVersion"]["errors"] == []
    checked = llm_check(database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configurations: every production prompt version in the database" in checked.stdout
    meddpicc = [line for line in checked.stdout.splitlines() if line.startswith("meddpicc ")]
    assert any("claude-haiku-5-5" in line and "effort=low" in line and "accepted" in line for line in meddpicc)
    assert any("claude-sonnet-5-5" in line and "effort=high" in line for line in meddpicc)  # the built-in


@pytest.fixture
async def untouched_database_url(server_url: str, migrated_templates: MigratedTemplates) -> AsyncIterator[str]:
    """A migrated database no test has written to, as a fresh install has: a clone takes tens of milliseconds, where
    `llm check`'s embedded PostgreSQL of its own takes seconds to create."""
    async with migrated_templates.clone(server_url) as database:
        yield database.url


def test_llm_check_prints_the_apis_exact_error(untouched_database_url: str) -> None:
    checked = llm_check(untouched_database_url, DEALGRAPH_LLM_MODEL="claude-sonnet-4-0")
    assert checked.returncode == 1
    assert (
        checked.stdout.count("REJECTED: NOT_FOUND 404: model: claude-sonnet-4-0 is not supported by dealgraph yet") == 8
    )


def test_one_line_answers_come_without_log_noise() -> None:
    """On the embedded PostgreSQL (initdb, pg_ctl, migrations) and without XDG_RUNTIME_DIR, as on a fresh box."""
    hidden = ("DATABASE_URL", "TEST_DATABASE_URL", "XDG_RUNTIME_DIR", "DEALGRAPH_LOG_LEVEL")
    # Its data directory is not pytest's tmp_path: pgserver (as root) runs initdb as another user and opens the
    # directories above the data directory to it, and a concurrent pytest run (CI runs both database paths at
    # once) resets the permissions of its own temporary root, shared with this one, to owner-only.
    with tempfile.TemporaryDirectory(prefix="dealgraph-cli-pg-", ignore_cleanup_errors=True) as data_dir:
        _one_line_answers(
            {k: v for k, v in os.environ.items() if k not in hidden} | {"DEALGRAPH_DATA_DIR": f"{data_dir}/pg"}
        )


def _one_line_answers(env: dict[str, str]) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return run_command(args, env, timeout=180)

    created = run("tenant", "create", "Quiet Corp")
    assert created.returncode == 0 and created.stdout.startswith("tenant quiet-corp created"), created.stderr
    assert created.stderr == ""
    issued = run("apikey", "create", "--tenant", "quiet-corp")
    assert issued.returncode == 0 and issued.stdout.splitlines()[-1].startswith("dg_"), issued.stderr
    assert issued.stderr == ""
    missing = run("apikey", "create", "--tenant", "nobody")
    assert missing.returncode == 1 and missing.stderr == "dealgraph: no tenant with slug 'nobody'\n"


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The error a refused command printed, checked to be one line on stderr with a non-zero exit."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    return result.stderr


def test_a_taken_slug_is_one_line_not_a_traceback(database_url: str) -> None:
    assert run_cli(database_url, "tenant", "create", "Twice Corp").returncode == 0
    again = run_cli(database_url, "tenant", "create", "Twice Corp")
    assert one_line_error(again) == (
        "dealgraph: a tenant with slug 'twice-corp' already exists (choose another with --slug)\n"
    )
    assert again.returncode == 1


def test_unknown_key_prefix_and_migration_revision_are_one_line(database_url: str) -> None:
    revoked = run_cli(database_url, "apikey", "revoke", "dg_nothing")
    assert "no live API key with prefix 'dg_nothing'" in one_line_error(revoked)
    downgraded = run_command(["migrate", "downgrade", "nonsense"], {**os.environ, "DATABASE_URL": database_url})
    assert "Can't locate revision identified by 'nonsense'" in downgraded.stderr.splitlines()[-1]
    assert "Traceback" not in downgraded.stderr and downgraded.returncode == 1


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgresql://dealgraph:secret@127.0.0.1:1/nowhere"}, "cannot reach the database at "),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL is not a database URL"),
        ({"DEALGRAPH_DB_POOL_SIZE": "zero"}, "DEALGRAPH_DB_POOL_SIZE: Input should be a valid integer"),
        ({"DEALGRAPH_WORKERS": "0"}, "DEALGRAPH_WORKERS: Input should be greater than or equal to 1"),
    ],
)
def test_a_broken_environment_is_one_line(database_url: str, env: dict[str, str], expected: str) -> None:
    result = run_command(["apikey", "revoke", "dg_whatever"], {**os.environ, "DATABASE_URL": database_url} | env)
    error = one_line_error(result)
    assert error.startswith("dealgraph: ") and expected in error
    assert "secret" not in error  # a password in DATABASE_URL is not printed


def test_arguments_the_database_could_not_store_are_refused_by_the_parser(database_url: str) -> None:
    for args in (
        ["tenant", "create", " "],
        ["tenant", "create", "x" * 201],
        ["apikey", "create", "--tenant", "t", "--role", "boss"],
        ["serve", "--port", "99999"],
    ):
        refused = run_cli(database_url, *args)
        assert refused.returncode == 2 and "Traceback" not in refused.stderr
        assert refused.stderr.splitlines()[-1].startswith("dealgraph "), refused.stderr


def test_a_reader_that_leaves_early_ends_the_output_quietly() -> None:
    """`dealgraph schema | head`: the reader is gone before anything is written."""
    process = subprocess.Popen([*CLI, "schema"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    assert stderr == ""
    assert process.returncode == 128 + signal.SIGPIPE  # what a shell shows for any program whose reader left


def importing(
    env: dict[str, str], *args: str, module: str = CLI[2]
) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """`python -m MODULE ARGS` (`dealgraph ARGS`) run to completion, and the top-level packages it imported, from
    the interpreter's own record (-X importtime)."""
    command = [CLI[0], "-X", "importtime", "-m", module, *args]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    imported = re.findall(r"^import time:.*\|\s+(\S+)$", result.stderr, re.MULTILINE)
    return result, {name.split(".")[0] for name in imported}


def imported_modules(env: dict[str, str], *args: str, module: str = CLI[2]) -> set[str]:
    return importing(env, *args, module=module)[1]


SERVER_PACKAGES = {"anthropic", "strawberry", "uvicorn", "starlette", "jinja2", "alembic"}


def test_help_and_one_line_commands_load_nothing_of_the_server(database_url: str) -> None:
    """--help took 4.4 s importing the server, the agents and the Claude SDK; it needs argparse alone, and a
    command that only writes a row needs the database layer alone."""
    assert not imported_modules(dict(os.environ), "--help") & (SERVER_PACKAGES | {"sqlalchemy", "pydantic"})
    revoke = imported_modules({**os.environ, "DATABASE_URL": database_url}, "apikey", "revoke", "dg_nothing")
    assert "sqlalchemy" in revoke and not revoke & SERVER_PACKAGES
    created = imported_modules({**os.environ, "DATABASE_URL": database_url}, "tenant", "create", "Light Corp")
    assert not created & SERVER_PACKAGES  # it migrates, and finds the database at head


def test_a_start_that_finds_the_database_current_loads_neither_alembic_nor_the_claude_sdk(database_url: str) -> None:
    """Seeding the built-in prompts computes their output schemas, which needs the SDK (a second of CPU at every
    start of every process), only when what they are made of changed since the last start; alembic is loaded
    only when the schema is behind."""
    env = {**os.environ, "DATABASE_URL": database_url}
    first, _ = importing(env, "migrate")  # seeds, unless a test of this module's database did already
    again, loaded = importing(env, "migrate")
    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    assert "sqlalchemy" in loaded and not loaded & {"anthropic", "alembic"}


def test_the_stand_ins_process_loads_no_claude_sdk() -> None:
    """`serve` and `llm check` start a stand-in process; the SDK's import alone took 4 s on a loaded machine."""
    loaded = imported_modules(dict(os.environ), "--help", module="dealgraph.standin")
    assert "uvicorn" in loaded and "anthropic" not in loaded


def test_help_names_the_new_vocabulary_only() -> None:
    top = run_command(["--help"], os.environ)
    assert "analysis-pool" in top.stdout and "worker" not in top.stdout
    serve = run_command(["serve", "--help"], os.environ)
    assert "--api-processes" in serve.stdout and "--workers" not in serve.stdout


def test_analysis_pool_and_its_old_names() -> None:
    """The new command and setting, and the old ones still working, with one deprecation line each."""
    refused = run_command(["analysis-pool"], os.environ | {"DEALGRAPH_ANALYSIS_SLOTS": "0"})
    assert refused.stderr == "dealgraph: DEALGRAPH_ANALYSIS_SLOTS must be at least 1 for an analysis pool\n"
    old = run_command(["worker"], os.environ | {"DEALGRAPH_WORKER_SLOTS": "0"})
    assert old.returncode == 1
    lines = old.stderr.splitlines()
    assert [line.split(": ", 1)[1] for line in lines[:-1]] == [
        "DEALGRAPH_WORKER_SLOTS is deprecated: use DEALGRAPH_ANALYSIS_SLOTS",
        "`dealgraph worker` is deprecated: use `dealgraph analysis-pool`",
    ], old.stderr
    assert lines[-1] == "dealgraph: DEALGRAPH_ANALYSIS_SLOTS must be at least 1 for an analysis pool"


def test_serve_says_ready_once_it_answers_and_takes_the_old_spellings(database_url: str) -> None:
    """Uvicorn's "running on" line comes when the port is bound, long before the app is loaded; the ready line
    comes when it answers. `--workers` and DEALGRAPH_EMBEDDING_WORKER still work, each with a warning."""
    port = free_port()
    env = process_env(database_url, "http://127.0.0.1:9", analysis_slots="0", embedding_worker="false")  # the old name
    with running(["serve", "--port", str(port), "--workers", "1"], env) as process:
        process.wait_for_output("dealgraph ready: GraphQL at http://")
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
        output = process.output()
    assert f"dealgraph ready: GraphQL at http://127.0.0.1:{port}/graphql (1 API process(es), " in output
    assert "connections are refused until the 'dealgraph ready' line" in output
    assert "DEALGRAPH_EMBEDDING_WORKER is deprecated: use DEALGRAPH_EMBEDDING_POOL" in output
    assert "--workers is deprecated: use --api-processes" in output
