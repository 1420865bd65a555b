"""Property: whatever arguments a client sends to any query or mutation, the answer is never a 500 and
never INTERNAL_SERVER_ERROR; every error carries a code.

hypothesis-graphql writes the operations from the schema itself (so a new field is covered without
touching this file); the custom scalar strategies mix real ids of this tenant's objects with hostile
values. Derandomized with a bounded number of examples per root field, so it is repeatable and fast.
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from typing import Any

import httpx
import hypothesis_graphql as hg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from dealgraph.schema import schema
from dealgraph.schema.strawberry_overrides import graphql_core_schema
from tests.analysis_support import transcript_for_analysis
from tests.support import GraphQLClient, TenantFactory, TenantHandle

GRAPHQL_SCHEMA = graphql_core_schema(schema)
QUERY_FIELDS = sorted(GRAPHQL_SCHEMA.query_type.fields)  # type: ignore[union-attr]
MUTATION_FIELDS = sorted(GRAPHQL_SCHEMA.mutation_type.fields)  # type: ignore[union-attr]
EXAMPLES_PER_FIELD = 20
HOSTILE_TEXT = ["", " ", "\x00", "a\x00b", "\u202e", "😀" * 3, "x" * 5000, "'; DROP TABLE deals; --", "%_\\", "\ufeff"]


def _global_id(type_name: str, raw: str) -> str:
    return base64.b64encode(f"{type_name}:{raw}".encode()).decode()


def hostile_ids(real: list[str]) -> st.SearchStrategy[str]:
    foreign = [
        _global_id(t, str(uuid.uuid4()))
        for t in ("Deal", "Account", "Transcript", "Analysis", "Tenant", "Viewer", "Nope")
    ]
    malformed = ["", "not-base64!", base64.b64encode(b"no-colon").decode(), _global_id("Deal", "not-a-uuid"), "\x00"]
    return st.sampled_from(real) | st.sampled_from(foreign + malformed) | st.text(max_size=30)


def scalar_strategies(real_ids: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    decimals = st.sampled_from(
        ["1e309", "1" * 35, "NaN", "-Infinity", "1e27", "-0.001", "12.345", "abc", "1e-40"]
    ) | st.decimals(allow_nan=True, allow_infinity=True).map(str)
    datetimes = st.sampled_from(
        ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-12:00", "2026-13-45T25:00:00Z", "now"]
    ) | st.datetimes(timezones=st.sampled_from([None, dt.UTC])).map(lambda d: d.isoformat())
    dates = st.sampled_from(["0001-01-01", "9999-12-31", "2026-02-30", "yesterday"]) | st.dates().map(str)
    return {
        "String": (st.sampled_from(HOSTILE_TEXT) | st.text(max_size=40)).map(nodes.String),
        "ID": hostile_ids(real_ids).map(nodes.String),
        "Decimal": decimals.map(nodes.String) | st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        "DateTime": datetimes.map(nodes.String),
        "Date": dates.map(nodes.String),
        "JSON": st.sampled_from(HOSTILE_TEXT).map(nodes.String),
    }


@pytest.fixture(scope="module")
async def world(gql: GraphQLClient, tenants: TenantFactory) -> tuple[TenantHandle, list[str]]:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    templates = await gql("{ promptTemplates { edges { node { id versions { edges { node { id } } } } } } }", as_=who)
    real = [ids["deal"], ids["transcript"]]
    for edge in templates["promptTemplates"]["edges"]:
        real += [edge["node"]["id"], *(v["node"]["id"] for v in edge["node"]["versions"]["edges"])]
    return who, real


async def assert_handled(http: httpx.AsyncClient, who: TenantHandle, document: str) -> None:
    response = await http.post("/graphql", json={"query": document}, headers=who.headers)
    assert response.status_code < 500, (document, response.text)
    body = response.json()
    for error in body.get("errors") or []:
        code = error.get("extensions", {}).get("code")
        assert code and code != "INTERNAL_SERVER_ERROR", (document, error)


FUZZ = settings(
    max_examples=EXAMPLES_PER_FIELD,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


async def fuzz(
    operations: Any, field: str, http: httpx.AsyncClient, world: tuple[TenantHandle, list[str]], data: st.DataObject
) -> None:
    who, real_ids = world
    document = data.draw(
        operations(GRAPHQL_SCHEMA, fields=[field], custom_scalars=scalar_strategies(real_ids)), label="document"
    )
    await assert_handled(http, who, document)


@pytest.mark.parametrize("field", QUERY_FIELDS)
@FUZZ
@given(data=st.data())
async def test_generated_query_arguments_never_crash(
    http: httpx.AsyncClient, world: tuple[TenantHandle, list[str]], field: str, data: st.DataObject
) -> None:
    await fuzz(hg.queries, field, http, world, data)


@pytest.mark.parametrize("field", MUTATION_FIELDS)
@FUZZ
@given(data=st.data())
async def test_generated_mutation_arguments_never_crash(
    http: httpx.AsyncClient, world: tuple[TenantHandle, list[str]], field: str, data: st.DataObject
) -> None:
    await fuzz(hg.mutations, field, http, world, data)
