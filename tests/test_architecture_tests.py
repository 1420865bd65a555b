"""The tests' own layout: shared helpers live in helper modules (tests/support.py, tests/factories.py, ...),
never in a test module that others import. Importing a `test_*` module runs its collection-time code twice
and makes pytest see its tests again under another name, and a helper hidden among tests gets copied.
What tests share with the benches lives in harness/, so a test never imports `bench`."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def imported_test_modules(source: str) -> Iterator[str]:
    """The `test_*` modules of this package that `source` imports, however it spells the import."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*(["tests"] if node.level else []), *([node.module] if node.module else [])])
            names = [base, *(f"{base}.{alias.name}" for alias in node.names)]
        else:
            continue
        yield from (".".join(name.split(".")[:2]) for name in names if name.startswith("tests.test_"))


def test_the_scanner_sees_every_spelling() -> None:
    spellings = [
        "from tests.test_cli import run",
        "import tests.test_cli",
        "from .test_cli import run",
        "from . import test_cli",
        "from tests import test_cli",
        "def f():\n    from tests.test_cli import run",
    ]
    for source in spellings:
        assert list(imported_test_modules(source)), source
    assert not list(imported_test_modules("from tests.support import websocket\nfrom tests import factories"))


def test_no_module_imports_a_test_module() -> None:
    modules = sorted(TESTS.glob("*.py"))
    assert len(modules) > 40  # the glob found the suite
    offenders = {
        module.name: sorted(set(imported_test_modules(module.read_text(encoding="utf-8")))) for module in modules
    }
    assert {name: imported for name, imported in offenders.items() if imported} == {}


ROOT = TESTS.parent
MAY_NOT_IMPORT = {
    "tests": {"bench"},  # what a test and a benchmark share lives in harness/
    "harness": {"bench", "tests"},
    "dealgraph": {"bench", "tests", "harness"},
}


def imported_top_level(source: str) -> set[str]:
    """The top-level packages `source` imports absolutely, anywhere in the file."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module.split(".")[0])
    return found


def test_the_import_scanner_sees_deferred_imports() -> None:
    source = "import os\ndef f():\n    from bench.support import x\n    import harness.ports\n"
    assert imported_top_level(source) == {"os", "bench", "harness"}


def test_tests_never_import_the_benches() -> None:
    offenders = {}
    for package, forbidden in MAY_NOT_IMPORT.items():
        modules = sorted((ROOT / package).rglob("*.py"))
        assert modules, package
        for module in modules:
            if bad := imported_top_level(module.read_text(encoding="utf-8")) & forbidden:
                offenders[str(module.relative_to(ROOT))] = sorted(bad)
    assert offenders == {}
