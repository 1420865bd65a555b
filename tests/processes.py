"""Real `dealgraph` processes for the scale-out tests: analysis pools and servers on this machine, configured as
the tests configure the in-process app (harness/processes.py starts and stops them)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from subprocess import CompletedProcess

from harness.processes import DealgraphProcess, run_command, serving_together
from tests.analysis_support import AGENTS


def run_cli(database_url: str, *args: str) -> CompletedProcess[str]:
    """One `dealgraph` command against the database at `database_url`, in this process's environment."""
    return run_command(args, {**os.environ, "DATABASE_URL": database_url})


def process_env(database_url: str, standin_url: str, **settings: str) -> dict[str, str]:
    env = {
        "DATABASE_URL": database_url,
        "ANTHROPIC_API_KEY": "test-key",
        "ANTHROPIC_BASE_URL": standin_url,
        "DEALGRAPH_LEASE_S": "1.0",
        "DEALGRAPH_POLL_INTERVAL_S": "0.2",
        "DEALGRAPH_PROGRESS_INTERVAL_S": "0.05",
        "DEALGRAPH_LOG_LEVEL": "INFO",
    }
    return env | {f"DEALGRAPH_{name.upper()}": value for name, value in settings.items()}


def without_a_key(database_url: str, agent_latency_s: float = 0.05, **settings: str) -> dict[str, str]:
    """`serve` with no API key or base URL: it starts the stand-in itself, with fast scripted agents (each answering
    in `agent_latency_s`). Runs are not re-claimed when the machine is loaded (`lease_s`)."""
    latencies = json.dumps(dict.fromkeys(AGENTS, agent_latency_s))
    env = process_env(database_url, "", standin_latencies=latencies, lease_s="30", **settings)
    return env | {"ANTHROPIC_API_KEY": "", "ANTHROPIC_BASE_URL": ""}


def _serve(options: tuple[str, ...]) -> list[str]:
    """One API process unless a test asks for more (the default is one per core)."""
    return ["serve", *options, *(() if "--api-processes" in options else ("--api-processes", "1"))]


@contextmanager
def serving(env: dict[str, str], *options: str, start_timeout_s: float = 180) -> Iterator[tuple[str, DealgraphProcess]]:
    """A `dealgraph serve` process; yields its base URL (once /healthz answers) and the process."""
    with serving_together([(_serve(options), env)], start_timeout_s=start_timeout_s) as [served]:
        yield served


@contextmanager
def servings(*envs: dict[str, str]) -> Iterator[list[tuple[str, DealgraphProcess]]]:
    """`dealgraph serve` processes, one per env, started side by side; yields (base URL, process) of each once
    all answer."""
    with serving_together([(_serve(()), env) for env in envs]) as started:
        yield started


@contextmanager
def servers(*envs: dict[str, str]) -> Iterator[list[str]]:
    """`dealgraph serve` processes, one per env, started side by side; yields their base URLs once all answer."""
    with servings(*envs) as started:
        yield [base_url for base_url, _ in started]


@contextmanager
def server(env: dict[str, str]) -> Iterator[str]:
    """A `dealgraph serve` process; yields its base URL once /healthz answers."""
    with servers(env) as [base_url]:
        yield base_url
