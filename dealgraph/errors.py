"""Every error code a client can be given, and the exceptions that carry one to the response.

Codes are part of the API: clients branch on them, so each is spelled once, here, and every error path
(GraphQL errors, refusals before GraphQL runs, payload field errors, WebSocket closes) names the member.
`tests/test_error_codes.py` fails on a code written anywhere else. Errors that are not `ApiError`s are
masked as INTERNAL_SERVER_ERROR (see `dealgraph.schema.errors`).
"""

from __future__ import annotations

import enum
from typing import ClassVar


class ErrorCode(enum.StrEnum):
    """`extensions.code` of a GraphQL error (also of a refusal before GraphQL runs), or a field error's `code`."""

    # The code of one field's problem in a mutation payload's `errors` (GraphQL enum `UserErrorCode`).
    INVALID = "INVALID"
    NOT_FOUND = "NOT_FOUND"  # also a request error: a required object the caller may not see
    CONFLICT = "CONFLICT"
    TOO_LARGE = "TOO_LARGE"

    # The request: who sends it, and what it asks for.
    BAD_REQUEST = "BAD_REQUEST"  # not a GraphQL request: body not JSON, wrong content type, batch, wrong method
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"  # the request's headers or body did not arrive in time
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    SUBSCRIPTION_REQUIRES_WEBSOCKET = "SUBSCRIPTION_REQUIRES_WEBSOCKET"
    QUERY_TOO_COMPLEX = "QUERY_TOO_COMPLEX"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"

    # The server: retrying later helps, or (internal) it is a bug to report with the request id.
    TOO_MANY_REQUESTS = "TOO_MANY_REQUESTS"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL_SERVER_ERROR = "INTERNAL_SERVER_ERROR"


class UserErrorCode(enum.StrEnum):
    """The codes a payload's field error can have: the GraphQL enum `UserErrorCode`, a part of `ErrorCode`."""

    INVALID = ErrorCode.INVALID
    NOT_FOUND = ErrorCode.NOT_FOUND
    CONFLICT = ErrorCode.CONFLICT
    TOO_LARGE = ErrorCode.TOO_LARGE


class CloseCode(enum.IntEnum):
    """WebSocket close codes the server sends itself (strawberry sends the protocol's own: 4400, 4401, ...)."""

    MESSAGE_TOO_BIG = 1009  # RFC 6455: a message longer than the server takes
    TRY_AGAIN_LATER = 1013  # RFC 6455: the server cannot take this socket just now
    API_KEY_REVOKED = 4403


class ApiError(Exception):
    """An error the client is meant to see, with its message and code."""

    code: ClassVar[ErrorCode]

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(ApiError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ApiError):
    code = ErrorCode.FORBIDDEN


class NotFound(ApiError):
    code = ErrorCode.NOT_FOUND


class BadUserInput(ApiError):
    code = ErrorCode.BAD_USER_INPUT


class TooManyRequests(ApiError):
    """Over a capacity limit (per-tenant cap, exhausted connection pool): retrying later helps."""

    code = ErrorCode.TOO_MANY_REQUESTS

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @classmethod
    def pool_exhausted(cls) -> TooManyRequests:
        return cls("The server is busy (no free database connection); retry shortly.")


class ServiceUnavailable(ApiError):
    """The database could not be reached (a failover, a restart, a dropped connection): retrying shortly helps."""

    code = ErrorCode.SERVICE_UNAVAILABLE

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @classmethod
    def database_lost(cls) -> ServiceUnavailable:
        return cls("The database connection was lost and the operation could not be completed; retry shortly.")
