"""HTTP authentication reuses a verified key's principal (DEALGRAPH_AUTH_CACHE_S), yet a revoked key
is refused as soon as the keys-revoked notification reaches the process, here and in another process."""

from __future__ import annotations

import uuid
from contextlib import AbstractContextManager

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.db.repositories.tenancy import Principal
from dealgraph.fanout.hub import RESYNC
from dealgraph.server.principal_cache import PrincipalCache
from dealgraph.standin import RunningStandin
from tests.processes import process_env, server
from tests.support import (
    REFUSAL_DEADLINE_S,
    GraphQLClient,
    TenantFactory,
    make_settings,
    recording_statements,
    refused_within,
    server_client,
)
from tests.support import VIEWER_ROLE as VIEWER

LONG_CACHE_S = 3600.0  # far longer than any test: only the notification can drop an entry


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, analysis_slots=0, auth_cache_s=LONG_CACHE_S)


def authentications(app: Starlette) -> AbstractContextManager[list[str]]:
    """The authentication statements the app sends while the block runs."""
    return recording_statements(app.state.database, "dealgraph_authenticate")


async def test_a_verified_key_is_not_looked_up_again(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    with authentications(app) as first:
        assert (await gql(VIEWER, as_=who))["viewer"]["role"] == "ADMIN"
    with authentications(app) as again:
        for _ in range(3):
            assert (await gql(VIEWER, as_=who))["viewer"]["role"] == "ADMIN"
    assert (len(first), len(again)) == (1, 0)


async def test_revoked_key_is_refused_over_http_despite_the_cache(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    colleague = await tenants.add_user(who, Role.ADMIN)
    for handle in (who, colleague):
        assert (await gql.raw(VIEWER, as_=handle)).status_code == 200  # both cached now
    await tenants.revoke(who)
    await refused_within(gql.http, who, REFUSAL_DEADLINE_S)
    assert (await gql.raw(VIEWER, as_=colleague)).status_code == 200  # only the revoked key was dropped


@pytest.mark.processes
async def test_revoked_key_is_refused_by_another_process_despite_its_cache(
    tenants: TenantFactory, database_url: str, standin_server: RunningStandin
) -> None:
    who = await tenants.create()
    env = process_env(database_url, standin_server.base_url, analysis_slots="0", auth_cache_s=str(LONG_CACHE_S))
    with server(env) as base_url:
        async with server_client(base_url, timeout=30) as client:
            for _ in range(2):
                assert (await client.post("/graphql", json={"query": VIEWER}, headers=who.headers)).status_code == 200
            await tenants.revoke(who)  # this process's database session, not the server's
            await refused_within(client, who, REFUSAL_DEADLINE_S)


def _principal() -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), Role.MEMBER)


async def test_a_lookup_racing_a_revocation_is_not_stored() -> None:
    cache = PrincipalCache(ttl_s=LONG_CACHE_S)
    cache.listening = True
    principal = _principal()
    lookups = 0

    async def verify_while_revoked() -> Principal:
        nonlocal lookups
        lookups += 1
        cache._keys_revoked({"apiKey": str(principal.api_key_id)})  # arrives while the database answers
        return principal

    assert await cache.principal("h", verify_while_revoked) == principal
    assert await cache.principal("h", verify_while_revoked) == principal
    assert lookups == 2  # the first answer was not kept


async def test_a_listener_reconnect_forgets_every_principal() -> None:
    cache = PrincipalCache(ttl_s=LONG_CACHE_S)
    cache.listening = True
    lookups = 0

    async def verify() -> Principal:
        nonlocal lookups
        lookups += 1
        return _principal()

    await cache.principal("a", verify)
    await cache.principal("a", verify)
    cache._keys_revoked(RESYNC)
    await cache.principal("a", verify)
    assert lookups == 2


async def test_nothing_is_stored_before_revocations_can_be_heard() -> None:
    cache = PrincipalCache(ttl_s=LONG_CACHE_S)
    lookups = 0

    async def verify() -> Principal:
        nonlocal lookups
        lookups += 1
        return _principal()

    await cache.principal("a", verify)
    await cache.principal("a", verify)
    assert lookups == 2
