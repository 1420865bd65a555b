"""GraphQL over HTTP content negotiation (https://graphql.github.io/graphql-over-http/draft/).

`application/graphql-response+json` lets status codes carry meaning: a request that never reached
execution (unparsable, invalid, over a limit) is a 400 without a `data` entry. Clients that ask for
`application/json` (or send no Accept header) keep the legacy behaviour: always 200, `data: null`.
"""

from __future__ import annotations

from typing import Any

GRAPHQL_RESPONSE = "application/graphql-response+json"
JSON = "application/json"


def _weights(accept: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for media_range in accept.split(","):
        media_type, *params = (part.strip() for part in media_range.split(";"))
        quality = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        weights[media_type.lower()] = max(quality, weights.get(media_type.lower(), 0.0))
    return weights


def response_media_type(accept: str | None) -> str:
    """The new media type when the client weighs it at least as high as `application/json`."""
    weights = _weights(accept or "")
    preferred = weights.get(GRAPHQL_RESPONSE, 0.0)
    legacy = max(weights.get(JSON, 0.0), weights.get("application/*", 0.0), weights.get("*/*", 0.0))
    return GRAPHQL_RESPONSE if preferred > 0 and preferred >= legacy else JSON


def is_request_error(response: dict[str, Any]) -> bool:
    """No data and only path-less errors: parse, validation or limit failures, not field errors."""
    errors = response.get("errors") or []
    return response.get("data") is None and bool(errors) and all("path" not in error for error in errors)
