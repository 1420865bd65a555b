"""Errors a client is meant to see. Everything else is masked (see `dealgraph.schema.errors`)."""

from __future__ import annotations


class ApiError(Exception):
    code = "BAD_REQUEST"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Unauthenticated(ApiError):
    code = "UNAUTHENTICATED"


class Forbidden(ApiError):
    code = "FORBIDDEN"


class NotFound(ApiError):
    code = "NOT_FOUND"


class BadUserInput(ApiError):
    code = "BAD_USER_INPUT"


class TooManyRequests(ApiError):
    """Over a capacity limit (per-tenant cap, exhausted connection pool): retrying later helps."""

    code = "TOO_MANY_REQUESTS"

    def __init__(self, message: str, retry_after_s: int = 1) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s

    @classmethod
    def pool_exhausted(cls) -> TooManyRequests:
        return cls("The server is busy (no free database connection); retry shortly.")
