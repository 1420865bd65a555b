"""The `dealgraph` command line, run as a real subprocess against the module's test database."""

from __future__ import annotations

import os
import subprocess
import tempfile

from tests.processes import run_cli, run_command
from tests.support import REFUSAL_DEADLINE_S, GraphQLClient, TenantFactory, TenantHandle, refused_within

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
    sdl = run_cli(database_url, "schema")
    assert sdl.returncode == 0 and "type Query {" in sdl.stdout and "searchTranscripts(" in sdl.stdout


def llm_check(**env: str) -> subprocess.CompletedProcess[str]:
    """As on a fresh install unless `env` says otherwise: no key (never a billed call from a test), and no
    database but an empty embedded one of its own, never the user's (`make run` leaves prompt versions there)."""
    hidden = {f"{prefix}ANTHROPIC_{name}" for prefix in ("", "DEALGRAPH_") for name in ("API_KEY", "BASE_URL")}
    hidden |= {"DATABASE_URL", "DEALGRAPH_DATABASE_URL", "DEALGRAPH_DATA_DIR"}
    clean = {k: v for k, v in os.environ.items() if k not in hidden}
    with tempfile.TemporaryDirectory(prefix="dealgraph-llm-check-") as data_dir:
        return run_command(["llm", "check"], clean | {"DEALGRAPH_DATA_DIR": data_dir} | env)


def test_llm_check_without_a_key_runs_against_the_stand_in_and_says_so() -> None:
    checked = llm_check()
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "No ANTHROPIC_API_KEY: checking against the local stand-in" in checked.stdout
    lines = [line for line in checked.stdout.splitlines() if "json_schema" in line]
    agents = ["meddpicc", "action_items", "stakeholders", "meeting_intelligence"]
    assert [line.split()[0] for line in lines] == [agent for agent in agents for _ in ("parallel", "leader")]
    assert [line.split()[3] for line in lines[:2]] == ["json_schema/parallel", "json_schema/leader"]
    assert all("claude-sonnet-5-5" in line and "accepted: stop_reason=end_turn" in line for line in lines)
    assert "effort=high" in lines[0] and "effort=medium" in lines[2]


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
    checked = llm_check(DATABASE_URL=database_url)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Configurations: every production prompt version in the database" in checked.stdout
    meddpicc = [line for line in checked.stdout.splitlines() if line.startswith("meddpicc ")]
    assert any("claude-haiku-5-5" in line and "effort=low" in line and "accepted" in line for line in meddpicc)
    assert any("claude-sonnet-5-5" in line and "effort=high" in line for line in meddpicc)  # the built-in


def test_llm_check_prints_the_apis_exact_error() -> None:
    checked = llm_check(DEALGRAPH_LLM_MODEL="claude-sonnet-4-0")
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
    assert missing.returncode == 1 and missing.stderr == "no tenant with slug 'nobody'\n"
