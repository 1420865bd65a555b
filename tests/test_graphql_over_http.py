"""GraphQL over HTTP: content negotiation, 400s without `data` for request errors, subscriptions."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dealgraph.db.models import Role
from tests.support import TenantFactory

NEW = "application/graphql-response+json"
BOTH = f"{NEW}, application/json;q=0.9"


async def post(http: httpx.AsyncClient, headers: dict[str, str], query: str, accept: str | None) -> httpx.Response:
    extra = {"accept": accept} if accept is not None else {}
    return await http.post("/graphql", json={"query": query}, headers=headers | extra)


async def test_new_media_type_when_the_client_prefers_it(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    for accept in (NEW, BOTH, f"application/json, {NEW}"):
        response = await post(http, who.headers, "{ viewer { role } }", accept)
        assert response.status_code == 200 and response.headers["content-type"].startswith(NEW), accept
        assert response.json() == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_json_clients_keep_the_legacy_behaviour(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    for accept in ("application/json", f"application/json, {NEW};q=0.5", None):
        response = await post(http, who.headers, "{ viewer { role ", accept)
        assert response.status_code == 200 and response.headers["content-type"].startswith("application/json"), accept
        body = response.json()
        assert body["data"] is None and body["errors"][0]["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"


async def test_request_errors_are_400_without_data(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    cases = {
        "{ viewer { role ": "GRAPHQL_PARSE_FAILED",
        "{ viewer { nope } }": "GRAPHQL_VALIDATION_FAILED",
        "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(100)) + " }": "QUERY_TOO_COMPLEX",
    }
    for query, code in cases.items():
        response = await post(http, who.headers, query, NEW)
        assert response.status_code == 400 and response.headers["content-type"].startswith(NEW), query
        body = response.json()
        assert "data" not in body and body["errors"][0]["extensions"]["code"] == code, body


async def test_field_errors_keep_200_and_data(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    """Execution started: a FORBIDDEN field is a field error, not a request error."""
    member = await tenants.add_user(await tenants.create(), Role.MEMBER)
    query = '{ viewer { role } renderPrompt(versionId: "UHJvbXB0VmVyc2lvbjp4", transcriptId: "VHJhbnNjcmlwdDp4") { system } }'
    response = await post(http, member.headers, query, NEW)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "data" in body and body["errors"][0]["extensions"]["code"] == "FORBIDDEN"


async def test_subscription_over_plain_http_points_to_the_websocket(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    query = 'subscription { analysisEvents(analysisId: "QW5hbHlzaXM6eA==") { __typename } }'
    for accept, status in ((None, 200), (NEW, 400)):
        response = await post(http, who.headers, query, accept)
        assert response.status_code == status, response.text
        error = response.json()["errors"][0]
        assert error.get("extensions", {}).get("code") == "SUBSCRIPTION_REQUIRES_WEBSOCKET", error
        assert "graphql-transport-ws" in error["message"]


TWO_OPERATIONS = "query A { viewer { role } } query B { viewer { role } }"
# What strawberry refuses before execution, as (method, request keywords): each was a text/plain body.
REFUSED_BEFORE_EXECUTION: dict[str, tuple[str, dict[str, Any]]] = {
    "unknown-operation-name": ("POST", {"json": {"query": TWO_OPERATIONS, "operationName": "C"}}),
    "batch": ("POST", {"json": [{"query": "{ viewer { role } }"}]}),
    "content-type": ("POST", {"content": b"{ viewer { role } }", "headers": {"content-type": "text/plain"}}),
    "bad-json": ("POST", {"content": b'{"query": ', "headers": {"content-type": "application/json"}}),
    "query-not-a-string": ("POST", {"json": {"query": 1}}),
    "mutation-over-get": (
        "GET",
        {"params": {"query": 'mutation { createAccount(input: {name: "x"}) { errors { message } } }'}},
    ),
    "method": ("PUT", {"json": {"query": "{ viewer { role } }"}}),
}
# (status, code) per media type: a request error is 200 for JSON clients and 400 for the new media type;
# a request that is not GraphQL over HTTP is 400 either way; a mutation over GET or another method 405.
EXPECTED = {
    "unknown-operation-name": ((200, 400), "GRAPHQL_VALIDATION_FAILED"),
    "batch": ((400, 400), "BAD_REQUEST"),
    "content-type": ((400, 400), "BAD_REQUEST"),
    "bad-json": ((400, 400), "BAD_REQUEST"),
    "query-not-a-string": ((400, 400), "BAD_REQUEST"),
    "mutation-over-get": ((405, 405), "BAD_REQUEST"),
    "method": ((405, 405), "BAD_REQUEST"),
}


@pytest.mark.parametrize("case", list(REFUSED_BEFORE_EXECUTION))
async def test_refusals_before_execution_are_graphql_responses_with_a_code(
    http: httpx.AsyncClient, tenants: TenantFactory, case: str
) -> None:
    who = await tenants.create()
    method, request = REFUSED_BEFORE_EXECUTION[case]
    (json_status, new_status), code = EXPECTED[case]
    for accept, status in (("application/json", json_status), (NEW, new_status)):
        headers = who.headers | {"accept": accept} | request.get("headers", {})
        response = await http.request(method, "/graphql", **{**request, "headers": headers})
        assert response.status_code == status and response.headers["content-type"].startswith(accept), (
            accept,
            response.text,
        )
        body = response.json()
        assert [error["extensions"]["code"] for error in body["errors"]] == [code], body
        assert ("data" in body) == (accept == "application/json"), body
        if status == 405:
            assert "POST" in response.headers["allow"]
