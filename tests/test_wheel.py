"""The wheel is a working install: built from the source, installed in a fresh virtual environment, run
from a directory that is not the checkout, it migrates a fresh database and serves GraphQL.

What a checkout hides: files the code reads at run time (alembic's env.py and script template, the
migrations, agent instructions, SQL) only reach an install when the build ships them, and a console
script run inside the repository imports the repository. The environment gets the already-installed
dependencies through a `.pth` line naming this interpreter's site-packages (no network). A `.pth`
line only adds a directory to `sys.path`, so the `.pth` files inside it, among them the editable
install of the checkout, are not run: `dealgraph` can only come from the wheel, which the test checks.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from dealgraph.children import http_status
from dealgraph.config import Settings
from dealgraph.db.session import Database
from harness.ports import free_port
from tests.support import TenantFactory

ROOT = Path(__file__).resolve().parent.parent
START_TIMEOUT_S = 60
pytestmark = [pytest.mark.wheel, pytest.mark.processes]


def _run(args: list[str | Path], env: dict[str, str], cwd: Path) -> str:
    done = subprocess.run(args, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}{done.stderr}"
    return done.stdout


def build_wheel(work: Path) -> Path:
    """The wheel of a copy of the source (the build leaves build/ and *.egg-info behind it)."""
    source = work / "source"
    shutil.copytree(ROOT / "dealgraph", source / "dealgraph", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    _run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", work / "dist", source],
        {**os.environ},
        work,
    )
    (wheel,) = (work / "dist").glob("dealgraph-*.whl")
    return wheel


def source_files() -> set[str]:
    return {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "dealgraph").rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def install(wheel: Path, work: Path) -> Path:
    """A virtual environment holding the wheel, and the running interpreter's site-packages for its dependencies."""
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], {**os.environ}, work)
    python = venv / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--python", python]
    _run([*pip, "install", "--no-deps", "--no-index", wheel], {**os.environ}, work)
    site_packages = Path(
        _run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], {}, work).strip()
    )
    ours = {sysconfig.get_path("purelib"), sysconfig.get_path("platlib")}
    (site_packages / "dealgraph_test_dependencies.pth").write_text("".join(f"{path}\n" for path in sorted(ours)))
    return venv


def clean_env(database_url: str) -> dict[str, str]:
    """This environment without anything naming the checkout or configuring dealgraph, as on a new machine."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name != "PYTHONPATH" and not name.startswith(("DEALGRAPH_", "ANTHROPIC_", "DATABASE_URL"))
    }
    # A base URL with nothing behind it: no analysis is started, and `serve` then starts no stand-in (seconds saved)
    return kept | {"DATABASE_URL": database_url, "ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}


def serve_and_ask(venv: Path, env: dict[str, str], cwd: Path, api_key: str) -> dict[str, object]:
    """`dealgraph serve` from the install, asked `{ __typename }` once /healthz answers."""
    port = free_port()
    log = cwd / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [venv / "bin" / "dealgraph", "serve", "--host", "127.0.0.1", "--port", str(port), "--api-processes", "1"],
            env=env,
            cwd=cwd,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while http_status("127.0.0.1", port, "/healthz", timeout_s=1) != 200:
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        response = httpx.post(
            f"{base_url}/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        body: dict[str, object] = response.json()
        return body
    finally:
        server.terminate()
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def install_and_migrate(database_url: str, work: Path) -> tuple[Path, dict[str, str]]:
    """The installed wheel (checked to hold every file of dealgraph/) after its `dealgraph migrate`."""
    wheel = build_wheel(work)
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("dealgraph/")}
    assert source_files() - shipped == set(), "files under dealgraph/ missing from the wheel"
    assert {"dealgraph/migrations/env.py", "dealgraph/migrations/script.py.mako"} <= shipped

    venv = install(wheel, work)
    env = clean_env(database_url)
    imported = _run([venv / "bin" / "python", "-c", "import dealgraph; print(dealgraph.__file__)"], env, work)
    assert Path(imported.strip()).is_relative_to(venv), f"dealgraph imported from {imported.strip()}, not the wheel"
    _run([venv / "bin" / "dealgraph", "migrate"], env, work)
    return venv, env


async def test_the_wheel_installs_migrates_and_serves(database_url: str, tmp_path: Path) -> None:
    build, elsewhere = tmp_path / "build", tmp_path / "elsewhere"
    build.mkdir()
    venv, env = await asyncio.to_thread(install_and_migrate, database_url, build)
    database = Database(database_url, app_role=Settings().app_role, pool_size=1)
    try:  # the tables `dealgraph migrate` made take a tenant (as `dealgraph tenant create` would add it)
        api_key = (await TenantFactory(database).create()).api_key
    finally:
        await database.dispose()
    elsewhere.mkdir()
    answer = await asyncio.to_thread(serve_and_ask, venv, env, elsewhere, api_key)
    assert answer == {"data": {"__typename": "Query"}}
