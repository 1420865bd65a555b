"""The documentation's examples as a newcomer runs them: fenced blocks read from the Markdown, shell blocks run
in bash against a real `dealgraph serve`, every curl call recorded with the answer it got.

Conventions the docs follow (and tests/test_readme.py enforces):
- ```sh blocks run in order in one terminal session: variables one block sets are there for the next
  (`KEY=…`, `DEAL=…`); blocks made only of `make` targets are not run (starting the server and the whole
  suite is the harness's job). `localhost:8000` is rewritten to the test server's address.
- ```python blocks run with the checkout's interpreter, in that session's environment.
- a ```graphql block holds one operation. A query or mutation is followed by its curl form (a ```sh block
  that sends that very document); a subscription is run over a WebSocket, its variable `$name` taking the
  session's `NAME`.
- a ```json block right after a ```sh block is the answer of that block's last curl call: its error codes
  are the ones that call must get (none, when it shows `data` only).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DOC_ADDRESS = "localhost:8000"

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", flags=re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Block:
    language: str
    text: str
    where: str  # file:line, for failure messages


def blocks(path: Path) -> list[Block]:
    source = path.read_text(encoding="utf-8")
    return [
        Block(match[1], match[2], f"{path.relative_to(ROOT)}:{source.count(chr(10), 0, match.start()) + 1}")
        for match in _FENCE.finditer(source)
    ]


def only_make_targets(block: Block) -> bool:
    commands = [line.split("#")[0].strip() for line in block.text.splitlines()]
    return all(not command or command.startswith("make ") for command in commands)


@dataclass(frozen=True)
class CurlCall:
    """One curl command the session ran: the GraphQL request it sent and the body it got back."""

    request: dict[str, Any]
    answer: Any

    @staticmethod
    def parse(arguments: list[str], output: str) -> CurlCall:
        request: dict[str, Any] = {}
        for flag, value in zip(arguments, arguments[1:], strict=False):
            if flag in ("-d", "--data", "--data-raw", "--json"):
                request = json.loads(value)
            elif flag == "--data-urlencode":
                name, _, raw = value.partition("=")
                request[name] = raw if name in ("query", "operationName") else json.loads(raw)
        for argument in arguments:
            if "?" in argument and "/graphql" in argument:
                for name, raw in urllib.parse.parse_qsl(urllib.parse.urlsplit(argument).query):
                    request[name] = raw if name in ("query", "operationName") else json.loads(raw)
        try:
            answer = json.loads(output)
        except json.JSONDecodeError:
            answer = output
        return CurlCall(request, answer)


# A curl that records its arguments and its answer: calls inside $( … ) run in subshells, so each call
# writes files of its own, named by the clock, and the session reads them back in order.
_PRELUDE = """set -euo pipefail
set -a
curl() {
  local call
  call="$DOCS_CURL_LOG/$(date +%s%N)"
  printf '%s\\0' "$@" > "$call.args"
  command curl "$@" | tee "$call.out"
}
"""


@dataclass
class Session:
    """A terminal in a fresh directory whose `.venv/bin/dealgraph` and `.venv/bin/python` are this checkout's."""

    server_address: str  # host:port of the real server the examples talk to
    env: dict[str, str]
    home: Path  # an empty directory: the terminal's working directory

    def __post_init__(self) -> None:
        bin_dir = self.home / ".venv" / "bin"
        bin_dir.mkdir(parents=True)
        (bin_dir / "dealgraph").write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m dealgraph.cli "$@"\n')
        (bin_dir / "dealgraph").chmod(0o755)
        (bin_dir / "python").symlink_to(sys.executable)

    def local(self, text: str) -> str:
        return text.replace(DOC_ADDRESS, self.server_address)

    def run_shell(self, block: Block) -> list[CurlCall]:
        """Run a ```sh block; returns its curl calls in the order they were made."""
        with tempfile.TemporaryDirectory(prefix="curl-", dir=self.home) as log:
            state = Path(log) / "state.env"
            script = f'{_PRELUDE}{self.local(block.text)}\nenv -0 > "{state}"\n'
            done = subprocess.run(
                ["bash", "-c", script],
                cwd=self.home,
                env={**self.env, "DOCS_CURL_LOG": log},
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert done.returncode == 0, f"{block.where} failed:\n{done.stdout}\n{done.stderr}"
            variables = (entry.split("=", 1) for entry in state.read_text().split("\0") if "=" in entry)
            # the recording curl is the prelude's, defined afresh in every block; it is not the reader's
            self.env = {name: value for name, value in variables if not name.startswith(("BASH_FUNC_", "DOCS_"))}
            return [
                CurlCall.parse(args.read_text().split("\0")[:-1], args.with_suffix(".out").read_text())
                for args in sorted(Path(log).glob("*.args"))
            ]

    def run_python(self, block: Block) -> str:
        done = subprocess.run(
            [sys.executable, "-c", self.local(block.text)],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, f"{block.where} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout


def nulls(value: Any, path: str = "") -> Iterator[str]:
    """Where a GraphQL answer holds null or an empty page: a documented example should not ask for a field
    that has no value, nor show a list that finds nothing."""
    if value is None or (path.endswith("edges") and value == []):
        yield path
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from nulls(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from nulls(item, f"{path}[{index}]")


def error_codes(answer: Any) -> list[str]:
    """The codes of an answer's top-level errors and of its mutation payloads' `errors` lists, in order."""
    codes: list[str] = []
    if isinstance(answer, dict):
        for error in answer.get("errors") or []:
            codes.append(str((error.get("extensions") or {}).get("code") or error.get("code") or error.get("message")))
        for key, item in answer.items():
            if key != "errors":
                codes += error_codes(item)
    elif isinstance(answer, list):
        for item in answer:
            codes += error_codes(item)
    return codes


def environment_for_docs(database_url: str) -> dict[str, str]:
    """The session's starting environment: this machine's, with the CLI pointed at the test database."""
    keep = {name: value for name, value in os.environ.items() if not name.startswith(("DEALGRAPH_", "ANTHROPIC_"))}
    return keep | {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
