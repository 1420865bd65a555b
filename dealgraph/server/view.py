"""The GraphQL endpoint: strawberry's ASGI view plus API-key authentication for HTTP and WebSocket.

HTTP requests without a valid key are refused before GraphQL runs (401 with a GraphQL-shaped body),
so no resolver ever runs unauthenticated. WebSocket clients authenticate in `connection_init`
(`{"authorization": "Bearer …"}`), because browsers cannot set headers on a WebSocket.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from cross_web import HTTPException
from strawberry.schema import BaseSchema

from dealgraph.agents.llm import LlmClient
from dealgraph.config import Settings
from dealgraph.db.repositories.tenancy import Principal, authenticate
from dealgraph.db.notifications import NotificationHub
from dealgraph.db.session import Database
from dealgraph.server.context import Context
from dealgraph.server.request_id import request_id_of

UNAUTHENTICATED_MESSAGE = "Missing or invalid API key: send 'Authorization: Bearer <api key>'."


def bearer_token(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


class DealgraphGraphQL(GraphQL[Context, None]):
    def __init__(self, schema: BaseSchema, database: Database, settings: Settings) -> None:
        super().__init__(schema, graphql_ide="graphiql" if settings.graphiql else None)
        self.database = database
        self.settings = settings
        self.hub: NotificationHub | None = None  # set by the app's lifespan once listening
        self.llm: LlmClient | None = None  # likewise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._wants_ide(Request(scope)):
            principal = await self._authenticate(bearer_token(Request(scope).headers.get("authorization")))
            if principal is None:
                await self._unauthenticated()(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
        await super().__call__(scope, receive, send)

    def parse_json(self, data: str | bytes) -> Any:
        """Invalid UTF-8, absurdly nested JSON and bare scalars are the client's fault too: 400, not a crash."""
        try:
            decoded = self.decode_json(data)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(decoded, dict | list):  # strawberry would call .get() on it
            raise HTTPException(400, "The request body must be a JSON object")
        return decoded

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _authenticate(self, token: str | None) -> Principal | None:
        if token is None:
            return None
        async with self.database.tenant_session(None) as session:
            return await authenticate(session, token)

    @staticmethod
    def _unauthenticated() -> Response:
        body = {"data": None, "errors": [{"message": UNAUTHENTICATED_MESSAGE, "extensions": {"code": "UNAUTHENTICATED"}}]}
        return Response(
            json.dumps(body),
            status_code=401,
            media_type="application/json",
            headers={"WWW-Authenticate": 'Bearer realm="dealgraph"'},
        )

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        return Context(
            request=request,
            response=response,
            database=self.database,
            settings=self.settings,
            hub=self.hub,
            llm=self.llm,
            request_id=request_id_of(request.scope),
            principal=request.scope.get("state", {}).get("principal"),
        )

    async def on_ws_connect(self, context: Context) -> dict[str, object] | None:
        params = context.connection_params or {}
        principal = await self._authenticate(bearer_token(params.get("authorization") or params.get("Authorization")))
        if principal is None:
            raise ConnectionRejectionError({"message": UNAUTHENTICATED_MESSAGE, "code": "UNAUTHENTICATED"})
        context.principal = principal
        return None
