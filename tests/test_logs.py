"""Logs that help and leak nothing: client mistakes stay out of ERROR, internal errors are logged once
with the request id, customer content never reaches INFO or above, JSON lines carry the request context."""

from __future__ import annotations

import io
import json
import logging
import uuid

import httpx
import pytest
import strawberry
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from dealgraph.config import Settings
from dealgraph.logs import log_handler
from dealgraph.schema import DealgraphSchema
from dealgraph.schema.context import Context
from dealgraph.schema.errors import PresentErrors
from dealgraph.server.request_id import RequestIdMiddleware
from dealgraph.server.view import DealgraphGraphQL
from dealgraph.standin import RunningStandin
from tests.factories import create_account, create_deal_with_account, create_transcript
from tests.graphql_documents import CREATE_ACCOUNT, CREATE_DEAL, DEAL
from tests.support import GraphQLClient, TenantFactory, asgi_client, make_settings, running_app

SECRET = f"confidential-{uuid.uuid4().hex}"  # stands for a customer's transcript text or prompt


@strawberry.type
class FailingQuery:
    @strawberry.field
    async def broken(self, info: strawberry.Info[Context, None]) -> int:
        """A database error whose statement carries customer content as a parameter."""
        async with info.context.database.owner_session() as session:
            return int(await session.scalar(text("SELECT 1 / 0 WHERE :content <> ''"), {"content": SECRET}))


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """With the line per request on (DEALGRAPH_ACCESS_LOG): successful operations are logged too."""
    return make_settings(database_url, standin_server.base_url, access_log=True)


@pytest.fixture(scope="module")
def failing_app(app: Starlette, settings: Settings) -> Starlette:
    view = DealgraphGraphQL(
        DealgraphSchema(query=FailingQuery, extensions=[PresentErrors]), app.state.database, settings
    )
    return Starlette(routes=[Route("/graphql", view, methods=["POST"])], middleware=[Middleware(RequestIdMiddleware)])


def formatted(caplog: pytest.LogCaptureFixture, level: int) -> str:
    formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
    return "\n".join(formatter.format(r) for r in caplog.records if r.levelno >= level)


async def test_client_mistakes_are_not_logged_as_errors(
    gql: GraphQLClient, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    account = await create_account(gql, who)
    mistakes = [
        ("{ nope }", {}),  # validation
        (DEAL, {"id": "not-base64!"}),  # bad id
        (CREATE_DEAL, {"input": {"accountId": account["id"], "name": "x", "amount": "abc"}}),  # bad decimal
        (
            "query($v: ID!, $t: ID!) { renderPrompt(versionId: $v, transcriptId: $t) { model } }",
            {"v": account["id"], "t": account["id"]},
        ),
        (CREATE_ACCOUNT, {"input": {"name": "nul\x00"}}),
    ]
    with caplog.at_level(logging.DEBUG):
        for document, variables in mistakes:
            body = (await gql.raw(document, variables, as_=who)).json()
            assert body["errors"][0]["extensions"]["code"] != "INTERNAL_SERVER_ERROR", body
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert [r for r in caplog.records if r.exc_info] == []
    assert any(r.levelno == logging.DEBUG and "NOT_FOUND" in r.getMessage() for r in caplog.records)


async def test_internal_errors_are_logged_once_with_the_request_id_and_without_content(
    failing_app: Starlette, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    async with asgi_client(failing_app) as client:
        with caplog.at_level(logging.INFO):
            response = await client.post(
                "/graphql", json={"query": "{ broken }"}, headers={**who.headers, "X-Request-ID": "req-once"}
            )
    assert response.json()["errors"][0]["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-once"}
    [logged] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "req-once" in logged.getMessage() and logged.exc_info is not None  # the operator gets the traceback
    assert "division by zero" in formatted(caplog, logging.ERROR)
    assert SECRET not in caplog.text and SECRET not in formatted(caplog, logging.INFO)


async def test_customer_content_stays_out_of_logs(
    gql: GraphQLClient, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    with caplog.at_level(logging.INFO):
        deal = await create_deal_with_account(gql, who)
        await create_transcript(gql, who, deal["id"], content=f"Ann: {SECRET}")
        hits = await gql(
            "query($q: String!) { searchTranscripts(query: $q, mode: KEYWORD) { totalCount } }", {"q": SECRET}, as_=who
        )
        assert hits["searchTranscripts"]["totalCount"] == 1
    assert caplog.records, "the operations were logged"
    assert SECRET not in formatted(caplog, logging.INFO)


async def test_json_lines_carry_request_tenant_operation_and_duration(
    http: httpx.AsyncClient, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    stream = io.StringIO()
    handler = log_handler("json", stream)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with caplog.at_level(logging.INFO):
            response = await http.post(
                "/graphql",
                json={"query": "query WhoAmI { viewer { role } }"},
                headers={**who.headers, "X-Request-ID": "req-json"},
            )
    finally:
        root.removeHandler(handler)
    assert response.status_code == 200
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [operation] = [line for line in lines if line["logger"] == "dealgraph.operations"]
    assert operation["request_id"] == "req-json" and operation["tenant_id"] == str(who.tenant_id)
    assert operation["operation"] == "WhoAmI" and operation["level"] == "INFO" and operation["error_count"] == 0
    assert isinstance(operation["duration_ms"], float) and operation["duration_ms"] >= 0


async def test_without_the_access_log_only_operations_with_errors_are_logged(
    settings: Settings, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    quiet = settings.model_copy(update={"access_log": False})
    async with running_app(quiet) as app, asgi_client(app) as client:
        with caplog.at_level(logging.INFO, logger="dealgraph.operations"):
            await client.post("/graphql", json={"query": "query Fine { viewer { role } }"}, headers=who.headers)
            await client.post("/graphql", json={"query": "query Wrong { viewer { nope } }"}, headers=who.headers)
    lines = [record for record in caplog.records if record.name == "dealgraph.operations"]
    assert [(record.getMessage(), getattr(record, "error_count", None)) for record in lines] == [
        ("graphql query Wrong finished", 1)
    ]
