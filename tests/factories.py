"""Factories for the rows tests start from: accounts, deals and transcripts, created through the GraphQL
API against the real database, so a seed takes the same path (validation, RLS, triggers) as a client's.

Each factory asserts that its mutation succeeded: a test never runs on a half-made world. Tests of the
mutations themselves, which expect errors, use `add_transcript` or send the documents directly.
Tenants, users and API keys come from `tests.support.TenantFactory` (the `tenants` fixture). `claimed_run`
is the one in-memory factory: a run as a worker holds it, for unit tests of the worker's parts.
"""

from __future__ import annotations

import uuid
from typing import Any

from dealgraph.db.repositories.runs import ClaimedRun
from tests.graphql_documents import ADD_TRANSCRIPT, CREATE_ACCOUNT, CREATE_DEAL, CREATE_TRANSCRIPT_VARS
from tests.support import GraphQLClient, TenantHandle


async def create_account(gql: GraphQLClient, who: TenantHandle, name: str = "Globex", **extra: Any) -> dict[str, Any]:
    data = await gql(CREATE_ACCOUNT, {"input": {"name": name, **extra}}, as_=who)
    assert data["createAccount"]["errors"] == [], data
    account: dict[str, Any] = data["createAccount"]["account"]
    return account


async def create_deal(gql: GraphQLClient, who: TenantHandle, account_id: str, **fields: Any) -> dict[str, Any]:
    """A deal named "Expansion" unless `fields` say otherwise."""
    data = await gql(CREATE_DEAL, {"input": {"accountId": account_id, "name": "Expansion", **fields}}, as_=who)
    assert data["createDeal"]["errors"] == [], data
    deal: dict[str, Any] = data["createDeal"]["deal"]
    return deal


async def create_deal_with_account(
    gql: GraphQLClient, who: TenantHandle, account_name: str = "Acme", **fields: Any
) -> dict[str, Any]:
    """A deal on a new account of its own (the deal's `account` holds the account's id and name)."""
    account = await create_account(gql, who, account_name)
    return await create_deal(gql, who, account["id"], **fields)


async def add_transcript(gql: GraphQLClient, who: TenantHandle, deal_id: str, **fields: Any) -> dict[str, Any]:
    """The `addTranscript` payload (transcript and errors) for the sales call in `CREATE_TRANSCRIPT_VARS`,
    with `fields` overriding it; for tests that check the mutation's answer, errors included."""
    variables = {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": deal_id, **fields}}
    payload: dict[str, Any] = (await gql(ADD_TRANSCRIPT, variables, as_=who))["addTranscript"]
    return payload


async def create_transcript(gql: GraphQLClient, who: TenantHandle, deal_id: str, **fields: Any) -> dict[str, Any]:
    """A transcript on the deal, as `add_transcript` would add it; fails unless it was added."""
    payload = await add_transcript(gql, who, deal_id, **fields)
    assert payload["errors"] == [], payload
    transcript: dict[str, Any] = payload["transcript"]
    return transcript


def claimed_run(agent: str = "meddpicc", **fields: Any) -> ClaimedRun:
    """A run as a worker holds it, for unit tests of what executes it (nothing is written)."""
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "tenant_id": uuid.uuid4(),
        "analysis_id": uuid.uuid4(),
        "agent": agent,
        "prompt_version_id": uuid.uuid4(),
        "seq": 1,
        "attempts": 1,
        "deal_id": uuid.uuid4(),
        "transcript_id": uuid.uuid4(),
    }
    return ClaimedRun(**{**values, **fields})
