"""Unexpected exceptions are masked for the client and logged with the request id."""

from __future__ import annotations

import logging

import pytest
import strawberry
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from dealgraph.config import Settings
from dealgraph.errors import NotFound
from dealgraph.schema.errors import PresentErrors
from dealgraph.server.request_id import RequestIdMiddleware
from dealgraph.server.view import DealgraphGraphQL
from tests.support import TenantFactory, asgi_client


@strawberry.type
class ExplodingQuery:
    @strawberry.field
    def secret(self) -> str:
        raise RuntimeError("password=hunter2 leaked from a driver")

    @strawberry.field
    def missing(self) -> str:
        raise NotFound("No such widget.")


@pytest.fixture(scope="module")
def exploding_app(app: Starlette, settings: Settings) -> Starlette:
    schema = strawberry.Schema(query=ExplodingQuery, extensions=[PresentErrors])
    view = DealgraphGraphQL(schema, app.state.database, settings)
    return Starlette(routes=[Route("/graphql", view, methods=["POST"])], middleware=[Middleware(RequestIdMiddleware)])


async def test_internal_errors_are_masked_and_logged(
    exploding_app: Starlette, tenants: TenantFactory, caplog: pytest.LogCaptureFixture
) -> None:
    who = await tenants.create()
    async with asgi_client(exploding_app) as client:
        with caplog.at_level(logging.ERROR, logger="dealgraph.errors"):
            response = await client.post(
                "/graphql", json={"query": "{ secret }"}, headers={**who.headers, "X-Request-ID": "req-123"}
            )
        known = await client.post("/graphql", json={"query": "{ missing }"}, headers=who.headers)
    [error] = response.json()["errors"]
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL_SERVER_ERROR", "requestId": "req-123"}
    assert "hunter2" not in response.text
    assert "req-123" in caplog.text and "hunter2" in caplog.text  # the operator still gets the details
    [expected] = known.json()["errors"]
    assert expected["message"] == "No such widget." and expected["extensions"] == {"code": "NOT_FOUND"}


async def test_invalid_documents_are_explained(exploding_app: Starlette, tenants: TenantFactory) -> None:
    who = await tenants.create()
    async with asgi_client(exploding_app) as client:
        response = await client.post("/graphql", json={"query": "{ nope }"}, headers=who.headers)
    [error] = response.json()["errors"]
    assert "nope" in error["message"] and error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
