"""Automatic persisted queries over HTTP: a hash stands for a document the tenant sent before."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import httpx

from dealgraph.schema import persisted_queries
from dealgraph.schema.document_cache import CACHEABLE_CHARS
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


def register(tenant: object, text: str) -> None:
    persisted_queries.PersistedQueries._resolve(tenant, sha256(text), text)  # noqa: SLF001


def padded(name: str, chars: int) -> str:
    """A document of `chars` characters, most of them a comment."""
    text = f"query {name} {{ viewer {{ role }} }} #"
    return text + "x" * (chars - len(text))


async def test_one_tenant_filling_the_store_pushes_out_its_own_documents_only(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    """The store is shared by bytes: the tenant holding the most gives way, and the total stays bounded."""
    flooder, bystander = await tenants.create(), await tenants.create()
    digest = sha256(QUERY)
    await post(http, bystander, {"query": QUERY, "extensions": persisted(digest)})
    store = persisted_queries.PersistedQueries.documents
    flood = [padded(f"Q{n}", 8_000) for n in range(2 * store.max_bytes // 8_000)]
    for text in flood:
        register(flooder.tenant_id, text)
    assert store.bytes <= store.max_bytes and store.tenant_bytes(flooder.tenant_id) > store.max_bytes // 2
    assert (await post(http, bystander, {"extensions": persisted(digest)})).json() == {
        "data": {"viewer": {"role": "ADMIN"}}
    }
    assert codes(await post(http, flooder, {"extensions": persisted(sha256(flood[0]))})) == [
        "PERSISTED_QUERY_NOT_FOUND"
    ]
    newest = await post(http, flooder, {"extensions": persisted(sha256(flood[-1]))})
    assert newest.json() == {"data": {"viewer": {"role": "ADMIN"}}}


async def test_a_document_longer_than_a_cacheable_one_runs_but_is_not_kept(
    http: httpx.AsyncClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    long = padded("Long", CACHEABLE_CHARS + 1)
    digest = sha256(long)
    assert (await post(http, who, {"query": long, "extensions": persisted(digest)})).json() == {
        "data": {"viewer": {"role": "ADMIN"}}
    }
    assert codes(await post(http, who, {"extensions": persisted(digest)})) == ["PERSISTED_QUERY_NOT_FOUND"]
