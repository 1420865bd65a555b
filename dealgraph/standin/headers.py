"""Headers every response carries, errors and streams included, so callers can always tell the stand-in answered."""

from __future__ import annotations

from datetime import UTC, datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dealgraph.claude.models import SIMULATED_HEADER
from dealgraph.standin.ids import new_id


class RateLimits:
    """The `anthropic-ratelimit-*` headers every real response carries
    (https://platform.claude.com/docs/en/api/rate-limits#response-headers): generous fixed limits, and the
    request budget of the current minute counting down, so clients that read them see them move."""

    REQUESTS_PER_MINUTE = 4000
    TOKENS_PER_MINUTE = 2_000_000

    def __init__(self) -> None:
        self._minute = 0
        self._used = 0

    def headers(self) -> list[tuple[str, str]]:
        now = datetime.now(UTC)
        minute = int(now.timestamp() // 60)
        if minute != self._minute:
            self._minute, self._used = minute, 0
        self._used += 1
        reset = datetime.fromtimestamp((minute + 1) * 60, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        pairs = [("requests", self.REQUESTS_PER_MINUTE, max(0, self.REQUESTS_PER_MINUTE - self._used))]
        pairs += [
            (kind, self.TOKENS_PER_MINUTE, self.TOKENS_PER_MINUTE)
            for kind in ("tokens", "input-tokens", "output-tokens")
        ]
        headers: list[tuple[str, str]] = []
        for kind, limit, remaining in pairs:
            prefix = f"anthropic-ratelimit-{kind}"
            headers += [
                (f"{prefix}-limit", str(limit)),
                (f"{prefix}-remaining", str(remaining)),
                (f"{prefix}-reset", reset),
            ]
        return headers


class ProtocolHeaders:
    """ASGI middleware rather than per-handler headers, so Starlette's own 404/405 answers are stamped too.

    The request id is also put in `scope["state"]`, where error bodies pick it up as `request_id`.
    """

    def __init__(self, app: ASGIApp, limits: RateLimits | None = None) -> None:
        self._app = app
        self._limits = limits or RateLimits()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        request_id = new_id("req_")
        scope.setdefault("state", {})["request_id"] = request_id

        async def stamped(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [(b"request-id", request_id.encode()), (SIMULATED_HEADER.encode(), b"true")]
                extra += [(name.encode(), value.encode()) for name, value in self._limits.headers()]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self._app(scope, receive, stamped)
