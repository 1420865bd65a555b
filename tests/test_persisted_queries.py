"""Automatic persisted queries over HTTP: a hash stands for a document the tenant sent before."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from dealgraph.schema import persisted_queries
from tests.support import TenantFactory, TenantHandle

QUERY = "query Role { viewer { role } }"
MUTATION = 'mutation { createAccount(input: {name: "Persisted Co"}) { account { name } errors { message } } }'


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def persisted(digest: str) -> dict[str, Any]:
    return {"persistedQuery": {"version": 1, "sha256Hash": digest}}


async def post(http: httpx.AsyncClient, who: TenantHandle, body: dict[str, Any]) -> httpx.Response:
    return await http.post("/graphql", json=body, headers=who.headers)


def codes(response: httpx.Response) -> list[str]:
    return [error["extensions"]["code"] for error in response.json().get("errors") or []]


async def test_unknown_hash_asks_for_the_text_then_the_hash_alone_runs_it(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    digest = sha256(QUERY)
    first = await post(http, who, {"extensions": persisted(digest)})
    assert first.status_code == 200 and codes(first) == ["PERSISTED_QUERY_NOT_FOUND"]
    assert first.json()["errors"][0]["message"] == "PersistedQueryNotFound"  # what Apollo's client looks for
    registered = await post(http, who, {"query": QUERY, "extensions": persisted(digest)})
    assert registered.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    again = await post(http, who, {"extensions": persisted(digest), "operationName": "Role"})
    assert again.json() == {"data": {"viewer": {"role": "ADMIN"}}}
    by_get = await http.get(
        "/graphql",
        params={"extensions": json.dumps(persisted(digest.upper()))},  # hex digits in either case
        headers={**who.headers, "Accept": "application/json"},
    )
    assert by_get.json() == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_a_text_that_does_not_hash_to_the_digest_is_refused_and_not_stored(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    wrong = sha256("query { viewer { role } }  # another document")
    refused = await post(http, who, {"query": QUERY, "extensions": persisted(wrong)})
    assert codes(refused) == ["BAD_USER_INPUT"] and "does not match" in refused.json()["errors"][0]["message"]
    assert refused.json().get("data") is None
    assert codes(await post(http, who, {"extensions": persisted(wrong)})) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_malformed_persisted_query_extensions_are_client_errors(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    for bad in (
        {"version": 2, "sha256Hash": sha256(QUERY)},
        {"version": 1, "sha256Hash": "not-a-hash"},
        {"version": 1},
        "abc",
        [1],
    ):
        answer = await post(http, who, {"query": QUERY, "extensions": {"persistedQuery": bad}})
        assert codes(answer) == ["BAD_USER_INPUT"], (bad, answer.text)


async def test_a_mutation_sent_by_hash_saves_once_per_request_and_a_refusal_saves_nothing(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    digest = sha256(MUTATION)
    assert codes(await post(http, who, {"extensions": persisted(digest)})) == ["PERSISTED_QUERY_NOT_FOUND"]
    wrong = await post(http, who, {"query": MUTATION, "extensions": persisted(sha256(QUERY))})
    assert codes(wrong) == ["BAD_USER_INPUT"]
    await post(http, who, {"query": MUTATION, "extensions": persisted(digest)})
    await post(http, who, {"extensions": persisted(digest)})
    names = await post(http, who, {"query": "{ accounts(first: 10) { edges { node { name } } } }"})
    assert [edge["node"]["name"] for edge in names.json()["data"]["accounts"]["edges"]] == ["Persisted Co"] * 2


async def test_one_tenants_documents_are_not_run_for_another(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    first, second = await tenants.create(), await tenants.create()
    digest = sha256(QUERY)
    await post(http, first, {"query": QUERY, "extensions": persisted(digest)})
    assert codes(await post(http, second, {"extensions": persisted(digest)})) == ["PERSISTED_QUERY_NOT_FOUND"]


async def test_documents_kept_are_bounded(http: httpx.AsyncClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    oldest = "query Q0 { viewer { role } }"
    texts = [oldest] + [f"query Q{n} {{ viewer {{ role }} }}" for n in range(1, persisted_queries.CAPACITY + 1)]
    for text in texts:
        persisted_queries.PersistedQueries._resolve(who.tenant_id, sha256(text), text)  # noqa: SLF001
    assert len(persisted_queries.PersistedQueries._documents) <= persisted_queries.CAPACITY  # noqa: SLF001
    assert codes(await post(http, who, {"extensions": persisted(sha256(oldest))})) == ["PERSISTED_QUERY_NOT_FOUND"]
    newest = await post(http, who, {"extensions": persisted(sha256(texts[-1]))})
    assert newest.json() == {"data": {"viewer": {"role": "ADMIN"}}}
