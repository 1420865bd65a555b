"""Errors in the real API's shape (body, `error.type`, retry headers), so the SDK maps them to its own exceptions."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from dealgraph.standin.config import ERROR_TYPES, AgentBehaviour

_RETRYABLE_STATUSES = frozenset({408, 409, 429})
"""Besides every 5xx; mirrors when the real API sends `x-should-retry: true`."""
_DEFAULT_RATE_LIMIT_RETRY_S = 1.0
"""The real API always tells a rate-limited client when to come back."""


class ApiError(Exception):
    """Raised anywhere while answering; becomes an error response instead of a Starlette 500."""

    def __init__(
        self, status: int, message: str, retry_after_s: float | None = None, details: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.retry_after_s = retry_after_s
        self.details = details
        """`error.details` of the body: `error_code` names a cause the type alone does not."""


def scripted_error(status: int, agent: str, behaviour: AgentBehaviour) -> ApiError:
    """Names the agent and the stand-in, so a scripted failure is never mistaken for a real outage."""
    retry_after_s = behaviour.retry_after_s if status in (429, 529) else None
    if status == 429 and retry_after_s is None:
        retry_after_s = _DEFAULT_RATE_LIMIT_RETRY_S
    message = f"Simulated {ERROR_TYPES[status]} for agent '{agent}', scripted in the dealgraph LLM stand-in."
    return ApiError(status, message, retry_after_s)


def spend_limit_error(limit: str) -> ApiError:
    """The two spend-limit failures (https://platform.claude.com/docs/en/api/errors, 400 and 429): a workspace
    limit you set is a 400 whose message begins "You have reached your specified workspace API usage limits";
    the tier's monthly cap a 429 without retry-after, `error.details.error_code` enforced_spend_limit_reached.
    Both say when access resumes; the exact remainder of the wording is not documented."""
    now = datetime.now(UTC)
    resumes = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=UTC)
    if limit == "workspace":
        return ApiError(
            400,
            "You have reached your specified workspace API usage limits. "
            f"You will regain access on {resumes:%Y-%m-%d at %H:%M UTC}.",
        )
    return ApiError(
        429,
        "Your organization has reached its usage tier's monthly spend limit. "
        f"API access resumes on {resumes:%Y-%m-%d at %H:%M UTC}.",
        details={"error_code": "enforced_spend_limit_reached"},
    )


def error_body(
    error_type: str, message: str, request_id: str | None = None, details: dict[str, str] | None = None
) -> dict[str, object]:
    """The API's error shape (https://platform.claude.com/docs/en/api/errors), also sent as a mid-stream `error` event."""
    error: dict[str, object] = {"type": error_type, "message": message}
    body: dict[str, object] = {"type": "error", "error": error if details is None else {**error, "details": details}}
    return body if request_id is None else {**body, "request_id": request_id}


def error_response(request: Request, error: ApiError) -> JSONResponse:
    request_id: str = request.state.request_id
    body = error_body(ERROR_TYPES.get(error.status, "invalid_request_error"), error.message, request_id, error.details)
    retryable = error.status in _RETRYABLE_STATUSES or error.status >= 500
    headers = {"x-should-retry": "true" if retryable else "false"}
    if error.retry_after_s is not None:
        headers["retry-after"] = str(math.ceil(error.retry_after_s))
        headers["retry-after-ms"] = str(round(error.retry_after_s * 1000))
    return JSONResponse(body, status_code=error.status, headers=headers)


async def handle_api_error(request: Request, exc: Exception) -> Response:
    """Lets handlers simply raise `ApiError` instead of each converting it themselves."""
    assert isinstance(exc, ApiError)  # registered for ApiError only
    return error_response(request, exc)


async def handle_http_error(request: Request, exc: Exception) -> Response:
    """Unknown routes and methods answer in the API's error shape, not Starlette's plain text."""
    assert isinstance(exc, HTTPException)  # registered for HTTPException only
    return error_response(request, ApiError(exc.status_code, exc.detail))
