"""The GraphQL endpoint: strawberry's ASGI view plus API-key authentication for HTTP and WebSocket.

HTTP requests without a valid key are refused before GraphQL runs (401 with a GraphQL-shaped body),
so no resolver ever runs unauthenticated. The key is in the headers, so it is checked before the
body is read: an anonymous client cannot make the server hold its body (`body_limit`). WebSocket
clients authenticate in `connection_init` (`{"authorization": "Bearer …"}`), because browsers
cannot set headers on a WebSocket.

Every refusal is a GraphQL response with a code, in the media type the client accepts, including
those strawberry makes before execution (body not JSON, unsupported content type, batches, unknown
`operationName`, a mutation over GET), which it would send as plain text.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, cast

from cross_web import HTTPException
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.schema import BaseSchema
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from dealgraph.claude.client import LlmClient
from dealgraph.config import Settings
from dealgraph.db.outage import is_outage
from dealgraph.db.repositories.tenancy import KEY_PREFIX, Principal, authenticate, hash_api_key
from dealgraph.db.session import Database, logging_writes
from dealgraph.errors import ErrorCode, ServiceUnavailable, TooManyRequests
from dealgraph.fanout.hub import NotificationHub
from dealgraph.json_text import dumps
from dealgraph.schema.context import Context
from dealgraph.server.body_limit import BodyRefused, declared_too_large, read_body, replay
from dealgraph.server.negotiation import GRAPHQL_RESPONSE, JSON, is_request_error, response_media_type
from dealgraph.server.pages import graphiql_page
from dealgraph.server.principal_cache import PrincipalCache
from dealgraph.server.recycle import Recycler
from dealgraph.server.request_id import request_id_of
from dealgraph.server.ws_admission import PendingSockets
from dealgraph.server.ws_handler import DealgraphTransportWSHandler
from dealgraph.server.ws_registry import LiveSockets
from dealgraph.tenant_slots import TenantSlots

UNAUTHENTICATED_MESSAGE = "Missing or invalid API key: send 'Authorization: Bearer <api key>'."
_CLOSE = {"Connection": "close"}
"""On a refusal sent before the body was read: the rest of it is not waited for on this connection."""


def bearer_token(value: object) -> str | None:
    """The token of an `Authorization: Bearer` value; None if there is none, or it is not ASCII (no key is)."""
    if not isinstance(value, str):
        return None
    scheme, _, token = value.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token and token.isascii() else None


def error_response(
    status: int, message: str, code: ErrorCode, headers: dict[str, str], media_type: str = JSON
) -> Response:
    """A GraphQL-shaped refusal for requests stopped before GraphQL runs.

    `application/json` clients get the legacy `data: null`; the GraphQL response media type has no
    `data` entry on a request error.
    """
    error = {"message": message, "extensions": {"code": code}}
    body = {"errors": [error]} if media_type == GRAPHQL_RESPONSE else {"data": None, "errors": [error]}
    return Response(json.dumps(body), status_code=status, media_type=media_type, headers=headers)


def refusal_of(refused: HTTPException) -> tuple[int, ErrorCode, dict[str, str]]:
    """Status, code and headers for a request strawberry refused before execution, as GraphQL over HTTP asks.

    An `operationName` the document lacks is a request error like a validation failure (the status is
    then chosen by the media type, see `create_response`); a mutation over GET is 405 (the spec's MUST).
    """
    cause = refused.__cause__
    if isinstance(cause, CannotGetOperationTypeError):
        return 200, ErrorCode.GRAPHQL_VALIDATION_FAILED, {}
    if isinstance(cause, InvalidOperationTypeError):
        return 405, ErrorCode.BAD_REQUEST, {"Allow": "POST"}
    if refused.status_code == 405:
        return 405, ErrorCode.BAD_REQUEST, {"Allow": "GET, POST"}
    return refused.status_code, ErrorCode.BAD_REQUEST, {}


def _lost_connection(result: ExecutionResult) -> bool:
    """Errors presented as SERVICE_UNAVAILABLE (`dealgraph.schema.errors`) are lost database connections."""
    return any((error.extensions or {}).get("code") == ErrorCode.SERVICE_UNAVAILABLE for error in result.errors or ())


class DealgraphGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = DealgraphTransportWSHandler

    def __init__(self, schema: BaseSchema, database: Database, settings: Settings) -> None:
        # Only graphql-transport-ws: the legacy graphql-ws handler has no init timeout and no revocation.
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql else None,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.ws_init_timeout_s),
        )
        self.database = database
        self.settings = settings
        self.live_sockets = LiveSockets(database)
        self.principals = PrincipalCache(settings.auth_cache_s)
        self.pending_sockets = PendingSockets(settings.ws_max_pending_per_address)
        self.max_message_chars = settings.max_body_bytes  # a WebSocket message is bounded as a body is
        self.recycler: Recycler | None = None  # set by the app of a restartable API process
        self.operations = TenantSlots(
            settings.tenant_concurrency, settings.tenant_queue_s, "concurrent operations (DEALGRAPH_TENANT_CONCURRENCY)"
        )
        self.hub: NotificationHub | None = None  # set by the app's lifespan once listening
        self.llm: LlmClient | None = None  # likewise

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._wants_ide(Request(scope)):
            await super().__call__(scope, receive, send)
            return
        media_type = response_media_type(Request(scope).headers.get("accept"))
        settings = self.settings
        try:
            if declared_too_large(scope, settings.max_body_bytes):
                raise BodyRefused.too_large(settings.max_body_bytes)
            try:
                principal = await self._authenticate_http(bearer_token(Request(scope).headers.get("authorization")))
            except TooManyRequests:
                raise
            except Exception as error:  # the key could not be checked: the database is unreachable, or a bug
                if not is_outage(error):
                    raise
                down = ServiceUnavailable.database_lost()
                headers = {"Retry-After": str(down.retry_after_s), **_CLOSE}
                await error_response(503, down.message, down.code, headers, media_type)(scope, receive, send)
                return
            if principal is None:
                await self._unauthenticated(media_type)(scope, receive, send)
                return
            scope.setdefault("state", {})["principal"] = principal
            async with self.operations.hold(principal.tenant_id):
                body = await read_body(receive, settings.max_body_bytes, settings.request_body_timeout_s)
                await self._serve(Request(scope, replay(body, receive)), media_type, send)
        except TooManyRequests as busy:
            await self._too_many_requests(busy, media_type)(scope, receive, send)
        except BodyRefused as refused:
            await error_response(refused.status, refused.message, refused.code, _CLOSE, media_type)(
                scope, receive, send
            )

    async def _serve(self, request: Request, media_type: str, send: Send) -> None:
        """As strawberry's ASGI view serves a request, but its refusals are GraphQL responses too."""
        try:
            response = await self.run(request)
        except HTTPException as refused:
            status, code, headers = refusal_of(refused)
            if status == 200 and media_type == GRAPHQL_RESPONSE:  # a request error: no data, so 400
                status = 400
            response = error_response(status, refused.reason, code, headers, media_type)
        await response(request.scope, request.receive, send)

    async def execute_single(  # noqa: PLR0917  # strawberry's signature
        self,
        request: Request,
        request_adapter: Any,
        sub_response: Response,
        context: Context,
        root_value: None,
        request_data: GraphQLRequestData,
    ) -> ExecutionResult:
        """An operation that lost its database connection runs once more if that is safe: it sent no COMMIT, so
        nothing it wrote stands (a read, or writes rolled back with the connection). Otherwise, or if it is lost
        again, the client gets SERVICE_UNAVAILABLE for the fields concerned, and `Retry-After`."""
        for attempt in (1, 2):
            with logging_writes() as writes:
                result = await super().execute_single(
                    request, request_adapter, sub_response, context, root_value, request_data
                )
            if not _lost_connection(result):
                return result
            if attempt == 1 and writes.commits_sent == 0:
                context.reset_loaders()  # nothing read by the failed attempt is reused
                continue
        sub_response.headers["Retry-After"] = str(ServiceUnavailable.database_lost().retry_after_s)
        return result

    def encode_json(self, data: object) -> str | bytes:
        """Returned as text: WebSocket messages are encoded here too and must go out as text frames."""
        return dumps(data)

    def parse_json(self, data: str | bytes) -> Any:
        """Invalid UTF-8, absurdly nested JSON and bare scalars are the client's fault too: 400, not a crash."""
        try:
            decoded = self.decode_json(data)
        except (ValueError, RecursionError) as error:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise HTTPException(400, "Unable to parse request body as JSON") from error
        if not isinstance(decoded, dict | list):  # strawberry would call .get() on it
            raise HTTPException(400, "The request body must be a JSON object")
        return decoded

    async def render_graphql_ide(self, request: Request) -> Response:
        """The vendored GraphiQL (`dealgraph.server.pages`) instead of strawberry's page, which loads it from a CDN."""
        return graphiql_page()

    def _wants_ide(self, request: Request) -> bool:
        return (
            self.graphql_ide is not None
            and request.method == "GET"
            and "query" not in request.query_params
            and "text/html" in request.headers.get("accept", "")
        )

    async def _authenticate_http(self, token: str | None) -> Principal | None:
        """HTTP requests go through the principal cache (WebSocket operations always ask the database)."""
        if token is None or not token.startswith(KEY_PREFIX):
            return None
        return await self.principals.principal(hash_api_key(token), lambda: self._authenticate(token))

    async def _authenticate(self, token: str | None) -> Principal | None:
        """A lost connection is retried once (the key's lookup only refreshes its last use)."""
        if token is None:
            return None
        for attempt in (1, 2):
            try:
                async with self.database.tenant_session(None) as session:
                    return await authenticate(session, token)
            except PoolTimeout:
                raise TooManyRequests.pool_exhausted() from None
            except Exception as error:
                if attempt == 2 or not is_outage(error):
                    raise
        raise AssertionError("unreachable")

    @staticmethod
    def _unauthenticated(media_type: str) -> Response:
        headers = {"WWW-Authenticate": 'Bearer realm="dealgraph"', **_CLOSE}
        return error_response(401, UNAUTHENTICATED_MESSAGE, ErrorCode.UNAUTHENTICATED, headers, media_type)

    @staticmethod
    def _too_many_requests(busy: TooManyRequests, media_type: str) -> Response:
        headers = {"Retry-After": str(busy.retry_after_s), **_CLOSE}
        return error_response(429, busy.message, busy.code, headers, media_type)

    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        sub_response = await super().get_sub_response(request)
        sub_response.media_type = response_media_type(request.headers.get("accept"))
        return sub_response

    def create_response(
        self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse], sub_response: Response
    ) -> Response:
        media_type = sub_response.media_type or JSON
        if media_type == GRAPHQL_RESPONSE and isinstance(response_data, dict) and is_request_error(dict(response_data)):
            response_data = cast(GraphQLHTTPResponse, {k: v for k, v in response_data.items() if k != "data"})
            sub_response.status_code = 400
        response = super().create_response(response_data, sub_response)
        response.headers["content-type"] = f"{media_type}; charset=utf-8"
        return response

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
        principal = await self.reauthenticate(context)
        if principal is None:
            raise ConnectionRejectionError({"message": UNAUTHENTICATED_MESSAGE, "code": ErrorCode.UNAUTHENTICATED})
        context.principal = principal
        return None

    async def reauthenticate(self, context: Context) -> Principal | None:
        """The principal of the key in the socket's `connection_init`, as the database sees it now."""
        params = context.connection_params or {}
        return await self._authenticate(bearer_token(params.get("authorization") or params.get("Authorization")))
