"""The layering of `dealgraph/`, read from the source: no import cycles between its packages, SQL only in `db/`.

The graph is built from every import statement in the package, including imports inside functions
and under `if TYPE_CHECKING:`: a deferred import still couples two packages, it only hides the cycle
from the interpreter. Each subpackage (`db`, `schema`, ...) and each top-level module (`config`,
`errors`, ...) is one node.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from collections.abc import Iterator
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "dealgraph"
SQL_BUILDERS = {"select", "insert", "update", "delete", "text"}
# What code outside db/ may take from SQLAlchemy: exception types to catch, and the session type that
# services pass to repositories as their unit of work.
SQLALCHEMY_OUTSIDE_DB = {"sqlalchemy.exc", "sqlalchemy.ext.asyncio"}
# The fan-out rides on the database's transactions (events go out when the session commits) and its
# LISTEN connection: it hooks session events and parses the URL, and builds no SQL.
SQLALCHEMY_IN_FANOUT = {"sqlalchemy", "sqlalchemy.engine", "sqlalchemy.orm"}
# Where SQL is the point: the database layer, and the migrations that shape it.
SQL_PACKAGES = ("dealgraph.db", "dealgraph.migrations")
SESSION_CALLS = {
    "execute",
    "scalar",
    "scalars",
    "stream",
    "get",
    "add",
    "add_all",
    "flush",
    "refresh",
    "delete",
    "merge",
}


@cache
def _modules() -> tuple[tuple[str, Path, ast.Module], ...]:
    """Every module of the package, parsed once for all the tests here (a second of CPU each time)."""
    parsed = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        parsed.append((name, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return tuple(parsed)


def _imported(module: str, path: Path, tree: ast.Module) -> Iterator[tuple[str, list[str], int]]:
    """(module imported, names taken from it, line) for every import anywhere in the file."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, [], node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base, [alias.name for alias in node.names], node.lineno


def _node(module: str) -> str:
    """The package-level node of a `dealgraph.…` module: its subpackage, or the top-level module itself."""
    return module.split(".")[1] if module.count(".") else "(package)"


def package_graph() -> dict[tuple[str, str], list[str]]:
    """(importer node, imported node) -> where, for every import between different nodes."""
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for module, path, tree in _modules():
        for imported, names, line in _imported(module, path, tree):
            targets = [f"{imported}.{n}" for n in names] if imported == "dealgraph" else [imported]
            for target in targets:
                if target.startswith("dealgraph.") and _node(target) != _node(module):
                    edges[(_node(module), _node(target))].append(
                        f"{path.relative_to(PACKAGE.parent)}:{line} -> {target}"
                    )
    return edges


def cycles(edges: dict[tuple[str, str], list[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan), each sorted."""
    successors: dict[str, set[str]] = defaultdict(set)
    for source, target in edges:
        successors[source].add(target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in successors[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(successors):
        if node not in index:
            visit(node)
    return found


def test_the_graph_sees_the_imports_it_should() -> None:
    """Guards the walker itself: an empty or partial graph would make the cycle test pass vacuously."""
    edges = package_graph()
    assert ("server", "schema") in edges  # the Starlette app serves the schema
    assert ("services", "db") in edges
    assert ("runs", "db") in edges
    assert ("standin", "claude") in edges  # the stand-in marks its answers with the client's header
    assert any("->" in where for where in edges[("schema", "services")])


def test_cycle_detection_finds_a_cycle() -> None:
    edges = {("a", "b"): ["x"], ("b", "c"): ["y"], ("c", "a"): ["z"], ("c", "d"): ["w"]}
    assert cycles(edges) == [["a", "b", "c"]]


def test_no_import_cycles_between_packages() -> None:
    edges = package_graph()
    problems = []
    for component in cycles(edges):
        members = set(component)
        problems.append(
            " <-> ".join(component)
            + "".join(
                f"\n    {line}"
                for (a, b), lines in sorted(edges.items())
                if a in members and b in members
                for line in lines
            )
        )
    assert not problems, "import cycles between dealgraph packages:\n" + "\n".join(problems)


def test_sql_is_built_only_in_db() -> None:
    """Queries live in `dealgraph/db/` (repositories, keyset pagination, sessions); everything else calls them."""
    problems = []
    for module, path, tree in _modules():
        if module.startswith(SQL_PACKAGES):
            continue
        allowed = SQLALCHEMY_OUTSIDE_DB | (SQLALCHEMY_IN_FANOUT if module.startswith("dealgraph.fanout") else set())
        where = path.relative_to(PACKAGE.parent)
        for imported, names, line in _imported(module, path, tree):
            if imported.split(".")[0] != "sqlalchemy":
                continue
            if imported not in allowed or SQL_BUILDERS & set(names):
                problems.append(f"{where}:{line} imports {imported} {names}")
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in SESSION_CALLS
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == "session"
            ):
                problems.append(f"{where}:{node.lineno} calls session.{node.func.attr}()")
    assert not problems, "SQL outside dealgraph/db/:\n" + "\n".join(problems)


# What each package may import from the others: the layers from the bottom up. A package missing here may
# import anything that does not close a cycle; the ones named are the boundaries a reader relies on.
FORBIDDEN = {
    "claude": {"db", "schema", "services", "server", "runs", "prompts", "agents", "standin", "search", "fanout"},
    "agents": {"db", "schema", "services", "server", "runs", "standin", "search", "fanout"},
    "prompts": {"db", "schema", "services", "server", "runs", "standin", "search", "fanout"},
    "db": {"schema", "services", "server", "runs", "prompts", "agents", "claude", "standin", "search"},
    "fanout": {"schema", "services", "server", "runs", "prompts", "agents", "claude", "standin", "search"},
    "services": {"schema", "server", "standin"},
    "schema": {"server", "standin"},
    "runs": {"schema", "services", "server", "standin"},
    "search": {"schema", "server", "runs", "standin"},
    "standin": {"db", "schema", "services", "server", "runs", "search", "fanout"},
    "observability": {
        "db",
        "schema",
        "services",
        "server",
        "runs",
        "prompts",
        "agents",
        "claude",
        "standin",
        "search",
        "fanout",
    },
}


def test_layers_import_only_downwards() -> None:
    """The stand-in is reached only over HTTP (production code starts it by module name), the Claude client
    knows nothing of the database, and the database layer knows nothing of the API above it."""
    problems = [
        line
        for (importer, imported), lines in sorted(package_graph().items())
        if imported in FORBIDDEN.get(importer, set())
        for line in lines
    ]
    production = {node for node, _ in package_graph()} - {"standin"}
    problems += [
        line
        for (importer, imported), lines in sorted(package_graph().items())
        if imported == "standin" and importer in production
        for line in lines
    ]
    assert not problems, "imports across a layer boundary:\n" + "\n".join(problems)


def test_the_documented_boundaries_are_these() -> None:
    """docs/architecture.md lists the forbidden imports; a boundary changed here must change there too."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \| ([a-z, ]+) \|$", doc, flags=re.MULTILINE)
    assert {package: set(imports.split(", ")) for package, imports in rows} == FORBIDDEN
