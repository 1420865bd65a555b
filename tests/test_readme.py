"""Every GraphQL example of the README works when run in order, as a newcomer pastes them.

Each ```graphql block is sent whole (several operations must therefore be named), one operation at a
time by name; variables take the ids returned by earlier steps, keyed by the field that returned them
(`$account` is the last `account { id }` seen, and so on). Subscriptions run over graphql-transport-ws.
"""

from __future__ import annotations

import itertools
import re
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import graphql
from starlette.applications import Starlette

from tests.support import GraphQLClient, Subscription, TenantFactory, TenantHandle, websocket

README = Path(__file__).resolve().parent.parent / "README.md"
Found = dict[str, list[str]]
# README variable name -> which earlier id it takes.
VARIABLES: dict[str, Callable[[Found], str]] = {
    "account": lambda f: f["account"][-1],
    "deal": lambda f: f["deal"][-1],
    "t": lambda f: f["transcript"][-1],
    "id": lambda f: f["analysis"][-1],
    "tpl": lambda f: f["template"][-1],
    "v": lambda f: f["promptVersion"][-1],
    "a": lambda f: f["promptVersion"][0],
    "b": lambda f: f["promptVersion"][-1],
}
_ids = itertools.count(1)


def graphql_blocks() -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", README.read_text(), flags=re.DOTALL)


def record_ids(value: Any, found: Found) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                found[key].append(item["id"])
            record_ids(item, found)
    elif isinstance(value, list):
        for item in value:
            record_ids(item, found)


def assert_no_errors(value: Any, where: str) -> None:
    """No GraphQL errors, and every mutation payload's `errors` list is empty."""
    if isinstance(value, dict):
        assert value.get("errors") in (None, []), (where, value)
        for item in value.values():
            assert_no_errors(item, where)
    elif isinstance(value, list):
        for item in value:
            assert_no_errors(item, where)


async def run(
    app: Starlette,
    gql: GraphQLClient,
    who: TenantHandle,
    block: str,
    operation: graphql.OperationDefinitionNode,
    found: Found,
) -> Any:
    name = operation.name.value if operation.name else None
    variables = {
        v.variable.name.value: VARIABLES[v.variable.name.value](found) for v in operation.variable_definitions or ()
    }
    if operation.operation is graphql.OperationType.SUBSCRIPTION:
        async with websocket(app, who.api_key) as ws:
            operation_id = str(next(_ids))
            payload = {"query": block, "variables": variables, "operationName": name}
            await ws.send_json({"id": operation_id, "type": "subscribe", "payload": payload})
            return await Subscription(ws, operation_id).collect(timeout=30)
    response = await gql.http.post(
        "/graphql", json={"query": block, "variables": variables, "operationName": name}, headers=who.headers
    )
    assert response.status_code == 200, (name, response.text)
    body = response.json()
    assert_no_errors(body, name or block[:60])
    return body["data"]


async def test_readme_examples_run_in_order(app: Starlette, gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    found: Found = defaultdict(list)
    blocks = graphql_blocks()
    assert len(blocks) >= 7
    for block in blocks:
        document = graphql.parse(block)
        for operation in document.definitions:
            assert isinstance(operation, graphql.OperationDefinitionNode)
            data = await run(app, gql, who, block, operation, found)
            record_ids(data, found)
            if "searchTranscripts" in block:
                assert data["searchTranscripts"]["edges"], "the README's search finds the README's transcript"
    assert found["analysis"] and len(found["promptVersion"]) == 2
