"""The browser pages the server serves itself: GraphiQL at GET /graphql and the console at /console.

Both load only the server's own files (dealgraph/server/static, the vendored libraries refreshed by
scripts/refresh_vendored.py), so they work without internet access; the Content-Security-Policy holds the
pages to that, so a page that reached for another host would fail in the browser, not leak a key. Nothing
here needs a key: the pages ask the API with the key the user types, which stays in the tab.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).resolve().parent / "static"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; connect-src 'self'; img-src 'self' data:; font-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
"""Styles may be inline (GraphiQL's editor sets them on elements); scripts only from the server's files."""
PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY, "X-Content-Type-Options": "nosniff"}


def graphiql_page() -> Response:
    """GraphiQL from the vendored files (strawberry's own page loads them from a CDN)."""
    return HTMLResponse((STATIC / "graphiql" / "index.html").read_text(), headers=PAGE_HEADERS)


async def _console(request: Request) -> Response:
    return FileResponse(STATIC / "console" / "index.html", headers=PAGE_HEADERS)


def page_routes() -> list[BaseRoute]:
    return [
        Route("/console", _console, methods=["GET", "HEAD"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
