"""Request limits: each is refused before execution, with a code naming the class and the limit."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from graphql import parse
from httpx_ws import WebSocketDisconnect
from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.schema.document_cache import CACHEABLE_CHARS, PARSED_BYTES_PER_CHAR
from dealgraph.server.documents import INLINE_CHARS, Documents
from dealgraph.server.limits import EXPANSION_PER_TOKEN
from dealgraph.standin import RunningStandin
from tests.support import GraphQLClient, TenantFactory, make_settings, websocket

BODY_LIMIT = 64 * 1024
CHARS_LIMIT = 20_000
BODY_TIMEOUT_S = 0.5


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(
        database_url,
        standin_server.base_url,
        max_body_bytes=BODY_LIMIT,
        max_query_chars=CHARS_LIMIT,
        request_body_timeout_s=BODY_TIMEOUT_S,
        tenant_concurrency=1,
        tenant_queue_s=0.3,
        tenant_connections=1,
        db_pool_size=1,
        db_pool_timeout_s=0.5,
        analysis_slots=0,  # no analysis pool polling the one connection: a test's own use of it never waits 0.5 s
    )


def refusal(body: dict[str, Any]) -> dict[str, Any]:
    """The single error of a request refused before execution."""
    assert body["data"] is None and len(body["errors"]) == 1, body
    error = body["errors"][0]
    assert "path" not in error, error
    return error


async def test_declared_body_over_the_limit_is_413(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    padding = "x" * BODY_LIMIT
    response = await http.post(
        "/graphql", json={"query": "{ viewer { role } }", "variables": {"p": padding}}, headers=who.headers
    )
    assert response.status_code == 413
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "PAYLOAD_TOO_LARGE" and str(BODY_LIMIT) in error["message"]
    assert "DEALGRAPH_MAX_BODY_BYTES" in error["message"]


async def test_streamed_body_is_counted_and_refused_before_parsing(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    """No Content-Length, and not JSON at all: a 413 (not a 400) shows nothing parsed it."""
    who = await tenants.create()

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"{" * 8192

    response = await http.post("/graphql", content=chunks(), headers=who.headers | {"content-type": "application/json"})
    assert response.status_code == 413 and response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


@asynccontextmanager
async def stalled_body() -> AsyncIterator[AsyncIterator[bytes]]:
    """A JSON body that sends its first kilobyte and then nothing until the block ends."""
    release = asyncio.Event()

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"query": "{ viewer { role } }", "variables": {"p": "' + b"x" * 1024
        await release.wait()
        yield b'"}}'

    try:
        yield chunks()
    finally:
        release.set()


async def test_an_anonymous_body_is_not_read(http: httpx.AsyncClient) -> None:
    """The key is in the headers: an anonymous client cannot make the server hold (or wait for) its body."""
    async with stalled_body() as body:
        request = http.post("/graphql", content=body, headers={"content-type": "application/json"})
        response = await asyncio.wait_for(request, 10)
    assert response.status_code == 401 and response.headers["connection"] == "close"
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_body_that_stalls_is_refused_at_its_deadline(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    async with stalled_body() as body:
        request = http.post("/graphql", content=body, headers=who.headers | {"content-type": "application/json"})
        response = await asyncio.wait_for(request, 10)
    assert response.status_code == 408 and response.headers["connection"] == "close"
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "REQUEST_TIMEOUT"
    assert f"DEALGRAPH_REQUEST_BODY_TIMEOUT_S={BODY_TIMEOUT_S}" in error["message"]


async def test_body_under_the_limit_is_served(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    data = await gql("{ viewer { role } }", {"p": "x" * (BODY_LIMIT // 2)}, as_=who)
    assert data["viewer"]["role"] == "ADMIN"


async def test_too_many_tokens(gql: GraphQLClient, tenants: TenantFactory, settings: Settings) -> None:
    who = await tenants.create()
    query = "{ viewer { " + "role " * settings.max_query_tokens + "} }"
    error = refusal((await gql.raw(query, as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert (
        f"more than {settings.max_query_tokens} tokens" in error["message"]
        and "DEALGRAPH_MAX_QUERY_TOKENS" in error["message"]
    )


def comment_padded(chars: int, marker: str = "") -> str:
    """`{ viewer { role } }` followed by a comment: few tokens, `chars` characters."""
    text = "{ viewer { role } }\n#" + marker
    return text + "x" * (chars - len(text))


async def test_document_longer_than_the_character_limit_is_refused_before_parsing(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Comments are not tokens: without a bound on characters the lexer's work had none."""
    who = await tenants.create()
    assert (await gql(comment_padded(CHARS_LIMIT), as_=who))["viewer"]["role"] == "ADMIN"
    parsed_before = app.state.documents.parsed.hits + len(app.state.documents.parsed)
    error = refusal((await gql.raw(comment_padded(CHARS_LIMIT + 1), as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert f"{CHARS_LIMIT + 1} characters" in error["message"]
    assert f"DEALGRAPH_MAX_QUERY_CHARS={CHARS_LIMIT}" in error["message"]
    assert app.state.documents.parsed.hits + len(app.state.documents.parsed) == parsed_before


async def test_document_longer_than_the_character_limit_over_a_websocket(
    app: Starlette, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        query = comment_padded(CHARS_LIMIT + 1)
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        message = await asyncio.wait_for(ws.receive_json(), 10)
    assert message["type"] == "error", message
    assert [e["extensions"]["code"] for e in message["payload"]] == ["QUERY_TOO_COMPLEX"]
    assert "DEALGRAPH_MAX_QUERY_CHARS" in message["payload"][0]["message"]


async def test_websocket_message_over_the_body_limit_closes_1009(app: Starlette, tenants: TenantFactory) -> None:
    """The HTTP body limit bounds WebSocket messages too: a 10 MB `subscribe` used to get through."""
    who = await tenants.create()
    async with websocket(app, who.api_key) as ws:
        query = "{ viewer { role } }" + " " * BODY_LIMIT
        await ws.send_json({"id": "1", "type": "subscribe", "payload": {"query": query}})
        with pytest.raises(WebSocketDisconnect) as closed:
            await asyncio.wait_for(ws.receive_json(), 10)
    assert closed.value.code == 1009 and "DEALGRAPH_MAX_BODY_BYTES" in (closed.value.reason or "")


async def test_nesting_deeper_than_the_parser_follows_is_too_complex(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """graphql-core stops parsing at its own nesting limit; that is a limit, not a syntax error."""
    who = await tenants.create()
    error = refusal((await gql.raw("{" + "a{" * 300 + "b" + "}" * 301, as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX" and "DEALGRAPH_MAX_QUERY_DEPTH" in error["message"]


async def test_caches_are_bounded_by_bytes_and_keep_no_long_document(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    documents = app.state.documents
    who = await tenants.create()
    long = comment_padded(CACHEABLE_CHARS + 1, "long")
    assert (await gql(long, as_=who))["viewer"]["role"] == "ADMIN"
    assert documents.parsed.get(long) is None and not any(key[0] == long for key in documents.validated._entries)
    budget, documents.parsed.max_bytes = documents.parsed.max_bytes, 4 * PARSED_BYTES_PER_CHAR * CACHEABLE_CHARS
    try:
        for n in range(8):
            assert (await gql(comment_padded(CACHEABLE_CHARS, str(n)), as_=who))["viewer"]["role"] == "ADMIN"
        assert documents.parsed.bytes <= documents.parsed.max_bytes and len(documents.parsed) <= 4
        assert documents.parsed.get(comment_padded(CACHEABLE_CHARS, "7")) is not None
    finally:
        documents.parsed.max_bytes = budget


async def test_long_documents_are_parsed_off_the_event_loop(app: Starlette, monkeypatch: pytest.MonkeyPatch) -> None:
    """Parsing a long document takes tens of milliseconds: on the loop, every other request would wait."""
    parsed_on: list[int] = []

    def recording_parse(query: str, **options: Any) -> Any:
        parsed_on.append(threading.get_ident())
        return parse(query, **options)

    monkeypatch.setattr("dealgraph.server.documents.parse", recording_parse)
    documents = Documents(max_tokens=2000)
    await documents.parse("{ viewer { role } }")
    await documents.parse(comment_padded(INLINE_CHARS + 1))
    assert parsed_on[0] == threading.get_ident() != parsed_on[1]


def nested_deals(hops: int) -> str:
    inner = "id"
    for _ in range(hops):
        inner = f"account {{ deals(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"
    return f"{{ deals(first: 1) {{ edges {{ node {{ {inner} }} }} }} }}"


async def test_too_deep(gql: GraphQLClient, tenants: TenantFactory, settings: Settings) -> None:
    who = await tenants.create()
    assert "errors" not in (await gql.raw(nested_deals(1), as_=who)).json()  # depth 7: fine
    error = refusal((await gql.raw(nested_deals(3), as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert f"maximum operation depth of {settings.max_query_depth}" in error["message"]
    assert "DEALGRAPH_MAX_QUERY_DEPTH" in error["message"]


async def test_too_many_aliases(gql: GraphQLClient, tenants: TenantFactory, settings: Settings) -> None:
    who = await tenants.create()
    limit = settings.max_query_aliases
    allowed = "{ " + " ".join(f"a{i}: viewer {{ role }}" for i in range(limit)) + " }"
    assert len(await gql(allowed, as_=who)) == limit
    error = refusal((await gql.raw(allowed.replace("{ a0", "{ extra: viewer { role } a0"), as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert f"Allowed: {limit}" in error["message"] and "DEALGRAPH_MAX_QUERY_ALIASES" in error["message"]


def fragment_doubling(levels: int) -> str:
    """A document of a few hundred tokens whose fragments each spread the previous one twice."""
    fragments = ["fragment F0 on Account { id name }"]
    fragments += [f"fragment F{i} on Account {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)]
    return f"{{ accounts(first: 1) {{ edges {{ node {{ ...F{levels} }} }} }} }} " + " ".join(fragments)


async def test_fragments_expanding_past_the_limit_are_refused_before_validation(
    gql: GraphQLClient, tenants: TenantFactory, settings: Settings
) -> None:
    """Strawberry's depth and alias limiters walk each spread again: validating 40 levels never ended."""
    who = await tenants.create()
    limit = settings.max_query_tokens * EXPANSION_PER_TOKEN
    assert (await gql(fragment_doubling(12), as_=who))["accounts"]["edges"] == []  # 8,195 selections: served
    for levels in (13, 40):
        started = time.thread_time()  # CPU, not wall-clock: the app runs in this thread, others' load is not counted
        error = refusal((await gql.raw(fragment_doubling(levels), as_=who)).json())
        assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
        assert f"more than {limit}" in error["message"] and "DEALGRAPH_MAX_QUERY_TOKENS" in error["message"]
        assert time.thread_time() - started < 5


@pytest.mark.parametrize(
    "document",
    [
        "{ accounts(first: %s) { totalCount } }",
        "query($n: Int = %s) { accounts(first: $n) { totalCount } }",
        'mutation { createDeal(input: {accountId: "x", name: "n", amount: %s}) { deal { id } } }',
        "{ accounts(first: 1) { edges { node { ... on Account { deals(first: [%s]) { totalCount } } } } } }",
    ],
)
async def test_number_literals_too_long_to_convert_are_refused(
    gql: GraphQLClient, tenants: TenantFactory, document: str
) -> None:
    """Python refuses to turn more than 4,300 digits into an int: that was an internal error."""
    who = await tenants.create()
    error = refusal((await gql.raw(document % ("9" * 5000), as_=who)).json())
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED"
    assert error["message"] == "Number literal too long (5000 characters; at most 100)."


async def test_several_operations_need_an_operation_name(
    http: httpx.AsyncClient, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """The spec's GetOperation: strawberry alone would run the first operation."""
    who = await tenants.create()
    document = "query Role { viewer { role } } query Count { accounts(first: 1) { totalCount } }"
    error = refusal((await gql.raw(document, as_=who)).json())
    assert error["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" and "operationName" in error["message"]
    named = await http.post("/graphql", json={"query": document, "operationName": "Count"}, headers=who.headers)
    assert named.json() == {"data": {"accounts": {"totalCount": 0}}}
    unknown = await http.post("/graphql", json={"query": document, "operationName": "Nope"}, headers=who.headers)
    assert unknown.status_code == 200
    assert refusal(unknown.json()) == {
        "message": 'Unknown operation named "Nope".',
        "extensions": {"code": "GRAPHQL_VALIDATION_FAILED"},
    }


ACCOUNTS_AND_DEALS = """
query($accounts: Int, $deals: Int) {
  accounts(first: $accounts) { edges { node { id name deals(first: $deals) { edges { node { id name } } } } } }
}"""


async def test_too_costly(gql: GraphQLClient, tenants: TenantFactory, settings: Settings) -> None:
    """Each part is within the page-size cap; the product is not."""
    who = await tenants.create()
    error = refusal((await gql.raw(ACCOUNTS_AND_DEALS, {"accounts": 100, "deals": 100}, as_=who)).json())
    assert error["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert f"limit of {settings.max_query_cost}" in error["message"] and "DEALGRAPH_MAX_QUERY_COST" in error["message"]
    assert error["extensions"]["cost"] > settings.max_query_cost
    literal = "{ accounts(first: 100) { edges { node { deals(first: 100) { edges { node { id } } } } } } }"
    assert refusal((await gql.raw(literal, as_=who)).json())["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert (await gql(ACCOUNTS_AND_DEALS, {"accounts": 100, "deals": 10}, as_=who))["accounts"]["edges"] == []


async def test_cached_validation_still_costs_each_requests_variables(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Parse and validation are cached per document; the cost depends on the variables and is not."""
    who = await tenants.create()
    validations, parses = app.state.documents.validated, app.state.documents.parsed
    for _ in range(2):
        hits = validations.hits, parses.hits
        assert (await gql(ACCOUNTS_AND_DEALS, {"accounts": 100, "deals": 10}, as_=who))["accounts"]["edges"] == []
        refused = refusal((await gql.raw(ACCOUNTS_AND_DEALS, {"accounts": 100, "deals": 100}, as_=who)).json())
        assert refused["extensions"]["code"] == "QUERY_TOO_COMPLEX"
    assert validations.hits >= hits[0] + 2 and parses.hits >= hits[1] + 2


async def test_unbounded_lists_count_at_the_page_size_cap(gql: GraphQLClient, tenants: TenantFactory) -> None:
    """`agentRuns` has no `first`: it counts as DEALGRAPH_MAX_PAGE_SIZE items."""
    who = await tenants.create()
    query = "{ transcripts(first: 100) { edges { node { analyses(first: 100) { edges { node { agentRuns { id status } } } } } } } }"
    assert refusal((await gql.raw(query, as_=who)).json())["extensions"]["code"] == "QUERY_TOO_COMPLEX"


async def test_parse_and_validation_failures_have_their_own_codes(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    assert refusal((await gql.raw("{ viewer { role ", as_=who)).json())["extensions"]["code"] == "GRAPHQL_PARSE_FAILED"
    assert (
        refusal((await gql.raw("{ viewer { nope } }", as_=who)).json())["extensions"]["code"]
        == "GRAPHQL_VALIDATION_FAILED"
    )


async def test_over_the_tenant_operation_cap_is_429(app: Starlette, gql: GraphQLClient, tenants: TenantFactory) -> None:
    busy, other = await tenants.create(), await tenants.create()
    async with app.state.graphql.operations.hold(busy.tenant_id):  # the tenant's only slot is taken
        response = await gql.raw("{ viewer { role } }", as_=busy)
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        error = response.json()["errors"][0]
        assert error["extensions"]["code"] == "TOO_MANY_REQUESTS" and "DEALGRAPH_TENANT_CONCURRENCY" in error["message"]
        assert (await gql("{ viewer { role } }", as_=other))["viewer"]["role"] == "ADMIN"
    assert (await gql("{ viewer { role } }", as_=busy))["viewer"]["role"] == "ADMIN"


async def test_over_the_tenant_connection_cap_is_too_many_requests(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    busy, other = await tenants.create(), await tenants.create()
    async with app.state.database.tenant_connections.hold(busy.tenant_id):
        body = (await gql.raw("{ accounts { edges { node { id } } } }", as_=busy)).json()
        assert [e["extensions"]["code"] for e in body["errors"]] == ["TOO_MANY_REQUESTS"], body
        assert "DEALGRAPH_TENANT_CONNECTIONS" in body["errors"][0]["message"]
        assert (await gql("{ accounts { edges { node { id } } } }", as_=other))["accounts"]["edges"] == []


async def test_exhausted_pool_is_429_not_a_server_error(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    engine = app.state.database.engine
    async with engine.connect() as only:  # pool_size 1, no overflow: all taken
        await only.execute(text("SELECT 1"))
        response = await gql.raw("{ viewer { role } }", as_=who)
    assert response.status_code == 429, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "TOO_MANY_REQUESTS"
    assert (await gql("{ viewer { role } }", as_=who))["viewer"]["role"] == "ADMIN"


async def test_exhausted_pool_on_a_websocket_operation_is_too_many_requests(
    app: Starlette, tenants: TenantFactory
) -> None:
    """Every WebSocket operation re-checks its key first: with the pool dry, that operation is refused
    with TOO_MANY_REQUESTS (never INTERNAL_SERVER_ERROR) and the socket stays open."""
    who = await tenants.create()
    engine = app.state.database.engine
    async with websocket(app, who.api_key) as ws:
        async with engine.connect() as only:
            await only.execute(text("SELECT 1"))
            await ws.send_json(
                {"id": "1", "type": "subscribe", "payload": {"query": "{ accounts { edges { node { id } } } }"}}
            )
            message = await asyncio.wait_for(ws.receive_json(), 10)
        assert message["type"] == "error", message
        assert [e["extensions"]["code"] for e in message["payload"]] == ["TOO_MANY_REQUESTS"]
        await ws.send_json(
            {"id": "2", "type": "subscribe", "payload": {"query": "{ accounts { edges { node { id } } } }"}}
        )
        answer = await asyncio.wait_for(ws.receive_json(), 10)
    assert answer["type"] == "next" and not answer["payload"].get("errors"), answer  # the socket stayed usable
