"""Every error code the server can emit is a member of `dealgraph.errors.ErrorCode`, read from the source.

A code is named through the enum: a code written as text anywhere else in `dealgraph/` (an
`extensions={"code": "..."}`, a `code = "..."`, a literal equal to a member's value) fails here, so a
new code cannot reach the wire without being listed, and a listed one cannot be misspelled. WebSocket
close codes likewise go through `CloseCode`.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from dealgraph.errors import ErrorCode, UserErrorCode
from dealgraph.schema import schema

PACKAGE = Path(__file__).resolve().parent.parent / "dealgraph"
CODES = {member.value for member in ErrorCode}
# Not the API's: the stand-in imitates the Messages API's own errors, and a failed agent run's code
# (`AgentError.code`: OVERLOADED, TIMEOUT, ...) is the run engine's vocabulary, stored with the run.
OTHER_VOCABULARIES = ("errors.py", "standin/", "claude/", "runs/", "db/repositories/runs.py")


def _is_code_name(target: ast.expr) -> bool:
    name = target.id if isinstance(target, ast.Name) else target.attr if isinstance(target, ast.Attribute) else ""
    return name == "code" or name.endswith("_CODE")


def _text(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def literal_codes(source: str) -> Iterator[tuple[int, str]]:
    """(line, what) for every error code written as a literal instead of through the enums."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and node.value in CODES:
            yield node.lineno, f"{node.value!r}: name it as ErrorCode.{node.value}"
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if _text(key) and key.value == "code" and _text(value):  # type: ignore[union-attr]
                    yield node.lineno, f'"code": {value.value!r}'  # type: ignore[attr-defined]
        elif isinstance(node, ast.keyword) and node.arg == "code" and _text(node.value):
            yield node.lineno, f"code={node.value.value!r}"  # type: ignore[attr-defined]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and _text(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(_is_code_name(target) for target in targets):
                yield node.lineno, f"a code assigned as text: {node.value.value!r}"  # type: ignore[union-attr]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "close":
            if node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, int):
                yield node.lineno, f"close({node.args[0].value}, ...): name it as a CloseCode"


def _api_modules() -> Iterator[Path]:
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if not relative.startswith(OTHER_VOCABULARIES):
            yield path


def test_codes_are_named_only_through_the_enums() -> None:
    found = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {what}"
        for path in _api_modules()
        for line, what in literal_codes(path.read_text(encoding="utf-8"))
    ]
    assert not found, "error codes written outside dealgraph/errors.py:\n" + "\n".join(found)


def test_the_scan_reads_the_error_paths() -> None:
    """Guards the scan itself: the modules that emit codes must be among those it reads."""
    scanned = {path.relative_to(PACKAGE).as_posix() for path in _api_modules()}
    assert {"schema/errors.py", "server/view.py", "server/ws_handler.py", "services/deals.py"} <= scanned


@pytest.mark.parametrize(
    "source",
    [
        'raise GraphQLError("busy", extensions={"code": "SERVICE_UNAVAILABLE"})',
        'error = {"message": "no", "code": "SOMETHING_NEW"}',
        'FieldError("input.name", "too long", code="TOO_LONG")',
        'class Gone(ApiError):\n    code = "GONE"',
        'REVOKED_CODE = "4403"',
        'if code != "INTERNAL_SERVER_ERROR":\n    pass',
        'await socket.close(4403, "API key revoked")',
    ],
)
def test_the_scan_finds_a_literal_code(source: str) -> None:
    assert list(literal_codes(source)), source


def test_the_scan_passes_codes_named_through_the_enums() -> None:
    source = (
        'raise GraphQLError("busy", extensions={"code": ErrorCode.SERVICE_UNAVAILABLE})\n'
        "await socket.close(CloseCode.API_KEY_REVOKED, reason)\n"
        'log.debug("client error %s", code)\n'
    )
    assert list(literal_codes(source)) == []


def test_field_error_codes_are_error_codes_and_the_schema_enum() -> None:
    assert {member.value for member in UserErrorCode} <= CODES
    graphql_enum = schema._schema.get_type("UserErrorCode")
    assert set(graphql_enum.values) == {member.name for member in UserErrorCode}  # type: ignore[union-attr]
