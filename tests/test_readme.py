"""Every example of README.md, docs/api.md and docs/agents.md works when pasted in order, against a real server.

A `dealgraph serve` process (on the test database, with the session's stand-in) answers; the docs' shell
blocks run in bash with the real `dealgraph` CLI, `curl` and `jq`, subscriptions run over a real WebSocket.
What the docs must look like for this is in tests/doc_examples.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import graphql
import pytest
from httpx_ws import aconnect_ws

from dealgraph.standin import RunningStandin
from tests.doc_examples import ROOT, Block, CurlCall, Session, blocks, environment_for_docs, error_codes, nulls
from tests.doc_examples import only_make_targets as not_run
from tests.processes import process_env, serving
from tests.support import Subscription, authenticate, server_client

DOCS = [ROOT / "README.md", ROOT / "docs" / "api.md", ROOT / "docs" / "agents.md"]


def same_document(a: str, b: str) -> bool:
    return graphql.print_ast(graphql.parse(a)) == graphql.print_ast(graphql.parse(b))


def check_answers(block: Block, calls: list[CurlCall], documented: Block | None) -> None:
    """A documented answer's error codes are what the last call got; every other call succeeded in full."""
    assert calls or "curl" not in block.text, f"{block.where}: no curl call was recorded"
    expected_last = error_codes(json.loads(documented.text)) if documented else []
    for index, call in enumerate(calls):
        last = index == len(calls) - 1
        codes = error_codes(call.answer)
        assert codes == (expected_last if last else []), (block.where, call.request, call.answer)
        if not codes and isinstance(call.answer, dict):  # an error answer has data: null
            empty = list(nulls(call.answer.get("data")))
            assert not empty, f"{block.where}: the example asks for fields that come back null: {empty}"


def finished(event: dict[str, Any]) -> bool:
    """A documented subscription's last event: an analysis' end, or an ended experiment's progress."""
    return event.get("__typename") == "AnalysisFinished" or event.get("status") in ("SUCCEEDED", "FAILED", "CANCELED")


async def watch(base_url: str, key: str, operation: Block, variables: dict[str, Any]) -> list[dict[str, Any]]:
    """A documented subscription over a real graphql-transport-ws socket, until the server completes it."""
    async with server_client(base_url, timeout=30) as client:
        async with aconnect_ws("/graphql", client, subprotocols=["graphql-transport-ws"]) as ws:
            await authenticate(ws, key)
            payload = {"query": operation.text, "variables": variables}
            await ws.send_json({"id": "doc", "type": "subscribe", "payload": payload})
            return await Subscription(ws, "doc").collect(timeout=60)


async def run_examples(path: Path, session: Session, base_url: str) -> None:
    found = blocks(path)
    unsent: Block | None = None  # a query or mutation whose curl form has not run yet
    for index, block in enumerate(found):
        following = found[index + 1] if index + 1 < len(found) else None
        if block.language == "graphql":
            assert unsent is None, f"{unsent.where}: no curl form follows this operation"
            document = graphql.parse(block.text)
            assert len(document.definitions) == 1, f"{block.where}: one operation per block"
            operation = document.definitions[0]
            assert isinstance(operation, graphql.OperationDefinitionNode), block.where
            if operation.operation is not graphql.OperationType.SUBSCRIPTION:
                unsent = block
                continue
            names = [v.variable.name.value for v in operation.variable_definitions or ()]
            events = await watch(base_url, session.env["KEY"], block, {n: session.env[n.upper()] for n in names})
            assert events and finished(events[-1][operation.selection_set.selections[0].name.value]), (
                block.where,
                events,
            )
            assert not [where for event in events for where in nulls(event)], (block.where, events)
        elif block.language == "sh" and not not_run(block):
            calls = session.run_shell(block)
            if unsent is not None:
                sent = [call.request.get("query") for call in calls]
                assert any(q and same_document(q, unsent.text) for q in sent), (
                    f"{block.where}: this curl form does not send the operation of {unsent.where}"
                )
                unsent = None
            check_answers(block, calls, following if following and following.language == "json" else None)
        elif block.language == "python":
            session.run_python(block)
    assert unsent is None, f"{unsent.where}: no curl form follows this operation"


@pytest.mark.processes
async def test_doc_examples_run_in_order(database_url: str, standin_server: RunningStandin, tmp_path: Path) -> None:
    assert shutil.which("curl") and shutil.which("jq"), "the docs' examples use curl and jq: install them"
    with serving(process_env(database_url, standin_server.base_url)) as (base_url, _):
        session = Session(base_url.removeprefix("http://"), environment_for_docs(database_url), tmp_path)
        for path in DOCS:
            await run_examples(path, session, base_url)
        assert {"KEY", "DEAL", "TRANSCRIPT", "ANALYSIS", "VERSION2"} <= set(session.env), (
            "the walkthrough keeps its ids"
        )


def test_every_doc_has_examples() -> None:
    """Guards the runner: a changed fence or file name would otherwise make the test above pass on nothing."""
    for path in DOCS:
        languages = {block.language for block in blocks(path)}
        assert {"graphql", "sh"} <= languages, (path, languages)
