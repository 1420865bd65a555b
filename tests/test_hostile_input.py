"""Broken and hostile input gets a clear error naming the field, never INTERNAL_SERVER_ERROR, and saves nothing.

One regression test per case found by probing the server as an attacker would.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.config import Settings
from tests.analysis_support import transcript_for_analysis
from tests.graphql_documents import (
    ADD_TRANSCRIPT,
    CREATE_ACCOUNT,
    CREATE_DEAL,
    CREATE_TRANSCRIPT_VARS,
    NODE,
    UPDATE_ACCOUNT,
)
from tests.support import GraphQLClient, TenantFactory, TenantHandle, make_settings

TENANT_TABLES = (
    "accounts",
    "deals",
    "transcripts",
    "analyses",
    "agent_runs",
    "prompt_templates",
    "prompt_versions",
    "prompt_labels",
)


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: Any) -> Settings:
    """Room for a transcript nested 100,000 levels deep (200 KB)."""
    return make_settings(database_url, standin_server.base_url, max_transcript_bytes=1024 * 1024)


@pytest.fixture(scope="module")
async def world(gql: GraphQLClient, tenants: TenantFactory) -> dict[str, Any]:
    """A tenant with an account, a deal and a transcript, for arguments that need real ids."""
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    deal = (await gql("query($id: ID!) { deal(id: $id) { account { id } } }", {"id": ids["deal"]}, as_=who))["deal"]
    templates = await gql("{ promptTemplates(agent: MEDDPICC) { edges { node { id } } } }", as_=who)
    return {
        "who": who,
        **ids,
        "account": deal["account"]["id"],
        "template": templates["promptTemplates"]["edges"][0]["node"]["id"],
    }


async def post(http: httpx.AsyncClient, who: TenantHandle, query: str, variables: dict[str, Any]) -> httpx.Response:
    """JSON-encoded with ASCII escapes, as a browser would send a lone surrogate ("\\ud800")."""
    body = json.dumps({"query": query, "variables": variables})
    return await http.post("/graphql", content=body, headers={**who.headers, "content-type": "application/json"})


async def row_counts(app: Starlette, who: TenantHandle) -> dict[str, int]:
    async with app.state.database.owner_session() as session:
        return {
            table: int(
                await session.scalar(text(f"SELECT count(*) FROM {table} WHERE tenant_id = :t"), {"t": who.tenant_id})
            )
            for table in TENANT_TABLES
        }


def assert_bad_input(response: httpx.Response, *names: str) -> str:
    assert response.status_code == 200, response.text
    [error] = response.json()["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT", error
    assert all(name in error["message"] for name in names), error
    return str(error["message"])


START = "mutation($t: ID!, $k: String, $l: String!) { startAnalysis(transcriptId: $t, idempotencyKey: $k, promptLabel: $l) { analysis { id } } }"
VERSION = "mutation($input: PromptVersionInput!) { createPromptVersion(input: $input) { promptVersion { id } } }"
SET_LABEL = "mutation($t: ID!, $l: String!, $v: ID!) { setPromptLabel(templateId: $t, label: $l, versionId: $v) { label { name } } }"
ROLLBACK = "mutation($t: ID!, $l: String!) { rollbackPrompt(templateId: $t, label: $l) { label { name } } }"
SEARCH = "query($q: String!) { searchTranscripts(query: $q) { edges { node { snippet } } } }"
ACCOUNTS = "query($q: String) { accounts(search: $q) { edges { node { id } } } }"
DEALS = "query($q: String) { deals(filter: {text: $q}) { edges { node { id } } } }"
PROMPT = {"agent": "MEDDPICC", "systemText": "You analyse calls.", "userTemplate": "Call the `{{ agent }}` tool."}

# (document, variables given the world's ids and the bad text, the field the error must name)
TEXT_CASES: dict[str, tuple[str, Any, str]] = {
    "account name": (CREATE_ACCOUNT, lambda w, s: {"input": {"name": f"Acme{s}"}}, "$input.name"),
    "account rename": (UPDATE_ACCOUNT, lambda w, s: {"input": {"id": w["account"], "name": f"Acme{s}"}}, "$input.name"),
    "deal name": (CREATE_DEAL, lambda w, s: {"input": {"accountId": w["account"], "name": f"Big{s}"}}, "$input.name"),
    "transcript title": (
        ADD_TRANSCRIPT,
        lambda w, s: {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": w["deal"], "title": f"Call{s}"}},
        "$input.title",
    ),
    "transcript text": (
        ADD_TRANSCRIPT,
        lambda w, s: {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": w["deal"], "content": f"Ann: hi{s}"}},
        "$input.content",
    ),
    "search": (SEARCH, lambda w, s: {"q": f"budget{s}"}, "$q"),
    "account filter": (ACCOUNTS, lambda w, s: {"q": f"Ac{s}"}, "$q"),
    "deal filter": (DEALS, lambda w, s: {"q": f"Bi{s}"}, "$q"),
    "idempotency key": (START, lambda w, s: {"t": w["transcript"], "k": f"k{s}", "l": "production"}, "$k"),
    "prompt label": (START, lambda w, s: {"t": w["transcript"], "l": f"prod{s}"}, "$l"),
    "prompt system text": (VERSION, lambda w, s: {"input": {**PROMPT, "systemText": f"You{s}"}}, "$input.systemText"),
    "prompt note": (VERSION, lambda w, s: {"input": {**PROMPT, "note": f"n{s}"}}, "$input.note"),
    "prompt labels": (VERSION, lambda w, s: {"input": {**PROMPT, "labels": ["ok", f"st{s}"]}}, "$input.labels[1]"),
    "label to set": (SET_LABEL, lambda w, s: {"t": w["template"], "l": f"st{s}", "v": w["template"]}, "$l"),
    "label to roll back": (ROLLBACK, lambda w, s: {"t": w["template"], "l": f"st{s}"}, "$l"),
}


@pytest.mark.parametrize("bad", ["\x00", "\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("case", TEXT_CASES)
async def test_unstorable_text_is_refused_naming_the_field(
    app: Starlette, http: httpx.AsyncClient, world: dict[str, Any], case: str, bad: str
) -> None:
    document, variables, field = TEXT_CASES[case]
    before = await row_counts(app, world["who"])
    response = await post(http, world["who"], document, variables(world, bad))
    assert_bad_input(response, f"'{field}'", "NUL" if bad == "\x00" else "surrogate")
    assert await row_counts(app, world["who"]) == before


async def test_nul_in_a_literal_argument_is_refused(http: httpx.AsyncClient, world: dict[str, Any]) -> None:
    response = await post(
        http, world["who"], '{ searchTranscripts(query: "budget\\u0000") { edges { node { snippet } } } }', {}
    )
    assert_bad_input(response, "'query'", "NUL")


@pytest.mark.parametrize(
    ("amount", "why"),
    [
        ("1e309", "magnitude below"),
        ("1" * 35, "significant digits"),
        (1e300, "significant digits"),
        ("NaN", "plain number"),
        ("1_000", "plain number"),
        (" 5 ", "plain number"),
        ("0x10", "plain number"),
        ("5,5", "plain number"),
        ("１２", "plain number"),
        ("١٢", "plain number"),
    ],
    ids=["1e309", "35-digits", "json-1e300", "nan", "underscore", "spaces", "hex", "comma", "fullwidth", "arabic"],
)
async def test_absurd_amounts_are_refused(
    app: Starlette, http: httpx.AsyncClient, world: dict[str, Any], amount: object, why: str
) -> None:
    """Python's Decimal parses more than numbers (underscores, spaces): a Decimal string is a plain number."""
    before = await row_counts(app, world["who"])
    response = await post(
        http, world["who"], CREATE_DEAL, {"input": {"accountId": world["account"], "name": "Huge", "amount": amount}}
    )
    assert_bad_input(response, "amount", why)
    assert await row_counts(app, world["who"]) == before


@pytest.mark.parametrize("close_date", ["20270101", "2027-W01-1", "0001-01-01", "9999-12-31", "2027-02-30"])
async def test_close_dates_outside_the_calendar_format_or_range_are_refused(
    app: Starlette, http: httpx.AsyncClient, world: dict[str, Any], close_date: str
) -> None:
    before = await row_counts(app, world["who"])
    variables = {"input": {"accountId": world["account"], "name": "Dated", "closeDate": close_date}}
    assert_bad_input(await post(http, world["who"], CREATE_DEAL, variables), "closeDate", "Date")
    assert await row_counts(app, world["who"]) == before


async def test_large_amounts_within_digits_get_a_field_error(gql: GraphQLClient, world: dict[str, Any]) -> None:
    """1e27 is a valid decimal but not an amount: a field error, not a failed rounding."""
    data = await gql(
        CREATE_DEAL, {"input": {"accountId": world["account"], "name": "Huge", "amount": "1e27"}}, as_=world["who"]
    )
    assert data["createDeal"]["errors"] == [
        {"field": "input.amount", "message": "must be at most 999999999999.99", "code": "INVALID"}
    ]


async def add_transcript(gql: GraphQLClient, world: dict[str, Any], **fields: Any) -> dict[str, Any]:
    variables = {
        "input": {**CREATE_TRANSCRIPT_VARS, "dealId": world["deal"], "content": f"Ann: {uuid.uuid4()}", **fields}
    }
    return (await gql(ADD_TRANSCRIPT, variables, as_=world["who"]))["addTranscript"]


async def test_transcript_nested_100k_levels_is_a_field_error(
    app: Starlette, gql: GraphQLClient, world: dict[str, Any]
) -> None:
    before = await row_counts(app, world["who"])
    payload = await add_transcript(gql, world, content='[{"speaker": ' + "[" * 100_000 + "]" * 100_000 + "}]")
    assert payload == {
        "transcript": None,
        "errors": [{"field": "input.content", "message": "invalid JSON: nested too deeply", "code": "INVALID"}],
    }
    assert await row_counts(app, world["who"]) == before


async def test_language_longer_than_its_column_is_a_field_error(gql: GraphQLClient, world: dict[str, Any]) -> None:
    payload = await add_transcript(gql, world, language="english-and-some")
    assert payload["transcript"] is None
    assert payload["errors"] == [
        {"field": "input.language", "message": "must be a language code like 'en' or 'pt-BR'", "code": "INVALID"}
    ]
    assert (await add_transcript(gql, world, language="pt-BR"))["transcript"]["language"] == "pt-BR"


HUGE = "100000000000000000000:00:00"  # 3.6e23 seconds


@pytest.mark.parametrize(
    ("content", "line"),
    [
        (f"Ann: hello\n[{HUGE}] Bob: hi", 2),
        (f"WEBVTT\n\n00:00:01.000 --> {HUGE}.000\nAnn: hello", 3),
        (f"1\n{HUGE},000 --> {HUGE},500\nAnn: hello", 2),
        (json.dumps([{"speaker": "Ann", "start": 3.6e23, "end": None, "text": "hello"}]), 1),
    ],
    ids=["plain", "webvtt", "srt", "json"],
)
async def test_absurd_cue_timestamps_are_refused_naming_the_line(
    app: Starlette, gql: GraphQLClient, world: dict[str, Any], content: str, line: int
) -> None:
    before = await row_counts(app, world["who"])
    payload = await add_transcript(gql, world, content=content)
    [error] = payload["errors"]
    assert error["field"] == "input.content" and error["message"].startswith(("line", "item")), error
    assert f" {line}: " in error["message"] and (
        "24 hours" in error["message"] or "86400 seconds" in error["message"]
    ), error
    assert await row_counts(app, world["who"]) == before


@pytest.mark.parametrize(
    "occurred_at",
    [
        "0001-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:00:00-05:00",
        "2026-W01-1T00:00:00Z",
        "2026-001T00:00Z",
        "20260101T000000Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T10:00:00.1234567Z",
    ],
)
async def test_absurd_occurred_at_is_refused(
    app: Starlette, http: httpx.AsyncClient, world: dict[str, Any], occurred_at: str
) -> None:
    before = await row_counts(app, world["who"])
    variables = {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": world["deal"], "occurredAt": occurred_at}}
    assert_bad_input(await post(http, world["who"], ADD_TRANSCRIPT, variables), "occurredAt", "DateTime")
    assert await row_counts(app, world["who"]) == before


@pytest.mark.parametrize("type_name", ["Tenant", "Viewer", "NoSuchType"])
async def test_node_with_the_id_of_a_non_node_type(
    http: httpx.AsyncClient, world: dict[str, Any], type_name: str
) -> None:
    global_id = base64.b64encode(f"{type_name}:{uuid.uuid4()}".encode()).decode()
    message = assert_bad_input(await post(http, world["who"], NODE, {"id": global_id}), "global id")
    assert type_name in message


UNPARSABLE = "Unable to parse request body as JSON"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"query": "{ viewer { role } }", "operationName": "\xff\xfe"}', UNPARSABLE),
        (b'{"query": "{ viewer { role } }", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", UNPARSABLE),
        (b'"{ viewer { role } }"', "The request body must be a JSON object"),
        (b"null", "The request body must be a JSON object"),
    ],
    ids=["invalid-utf8", "nested-100k", "bare-string", "null"],
)
async def test_undecodable_body_is_a_400(
    http: httpx.AsyncClient, world: dict[str, Any], body: bytes, message: str
) -> None:
    response = await http.post(
        "/graphql", content=body, headers={**world["who"].headers, "content-type": "application/json"}
    )
    assert response.status_code == 400 and response.headers["content-type"].startswith("application/json")
    assert response.json() == {"data": None, "errors": [{"message": message, "extensions": {"code": "BAD_REQUEST"}}]}


def test_text_the_fast_encoder_refuses_is_still_encoded(app: Starlette) -> None:
    """orjson refuses lone surrogates (which could only reach a response inside an echoed message); `json` takes over."""
    view = app.state.graphql
    assert json.loads(view.encode_json({"data": {"name": "Café"}})) == {"data": {"name": "Café"}}
    assert json.loads(view.encode_json({"errors": [{"message": "bad \ud800"}]})) == {
        "errors": [{"message": "bad \ud800"}]
    }
