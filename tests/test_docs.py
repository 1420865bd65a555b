"""The docs stay true of the code where the code can say it: the settings table of docs/operations.md is
`Settings` itself, and the docs speak of what the system does, not of when or why someone worked on it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import AliasChoices
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from dealgraph.config import Settings

ROOT = Path(__file__).resolve().parent.parent
OPERATIONS = ROOT / "docs" / "operations.md"
HEADER = "| variable | default | meaning |"
# Defaults computed on the machine that runs the server, as the table states them.
COMPUTED_DEFAULTS = {
    "data_dir": "`<user data dir>/dealgraph/postgres`",
    "api_processes": "one per core",
}


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variables a setting is read from, the one to use first."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [choice for choice in alias.choices if isinstance(choice, str)]
    if isinstance(alias, str):
        return [alias]
    return [f"{Settings.model_config.get('env_prefix', '')}{name}".upper()]


def shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, list | dict):
        return f"`{json.dumps(value)}`"
    return f"`{value}`"


def default_of(name: str, field: FieldInfo) -> str:
    if field.default is not PydanticUndefined:
        return shown(field.default)
    assert name in COMPUTED_DEFAULTS, f"say how docs/operations.md shows the computed default of {name!r}"
    return COMPUTED_DEFAULTS[name]


def expected_table() -> str:
    rows = [HEADER, "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        first, *others = env_names(name, field)
        variable = f"`{first}`" + "".join(f" (also `{other}`)" for other in others)
        meaning = (field.description or "").replace("|", "\\|")
        assert meaning, f"Settings.{name} needs a description: the docs table is built from it"
        rows.append(f"| {variable} | {default_of(name, field)} | {meaning} |")
    return "\n".join(rows)


def documented_table() -> str:
    lines = OPERATIONS.read_text(encoding="utf-8").splitlines()
    start = lines.index(HEADER)
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return "\n".join(lines[start:end])


def test_settings_table_is_settings() -> None:
    expected = expected_table()
    assert documented_table() == expected, (
        "docs/operations.md's settings table differs from dealgraph.config.Settings; replace it with:\n\n" + expected
    )


def test_every_setting_has_a_row() -> None:
    """Guards the generator: the table must not pass by being empty."""
    assert documented_table().count("\n") == len(Settings.model_fields) + 1
    assert "`DATABASE_URL` (also `DEALGRAPH_DATABASE_URL`)" in documented_table()


TRACKER_WORDS = re.compile(r"\bissue \d+|\(issue\b|\bticket \d+|#\d{2,}\b", re.IGNORECASE)
DIARY_WORDS = re.compile(r"\btoday\b|\bthis session\b|\bre-run\b|\bthis morning\b|\btonight\b", re.IGNORECASE)


def offending_lines(paths: list[Path], pattern: re.Pattern[str]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in paths
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]


def test_docs_say_what_is_not_when_it_happened() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(documents) >= 6
    problems = offending_lines(documents, TRACKER_WORDS) + offending_lines(documents, DIARY_WORDS)
    assert not problems, "\n".join(problems)


def test_code_names_no_tracker_items() -> None:
    """A comment says what it means; a tracker item's number means nothing to a reader without the tracker.
    (This module spells the patterns, so it is the one file not scanned.)"""
    sources = [ROOT / "pyproject.toml", ROOT / "Makefile"]
    sources += [path for folder in ("dealgraph", "tests", "bench") for path in sorted((ROOT / folder).rglob("*.py"))]
    sources.remove(Path(__file__).resolve())
    assert not (problems := offending_lines(sources, TRACKER_WORDS)), "\n".join(problems)


def rewrite_table() -> None:
    """`python -m tests.test_docs`: put the table `Settings` makes into docs/operations.md."""
    text = OPERATIONS.read_text(encoding="utf-8")
    OPERATIONS.write_text(text.replace(documented_table(), expected_table()), encoding="utf-8")


if __name__ == "__main__":
    rewrite_table()
