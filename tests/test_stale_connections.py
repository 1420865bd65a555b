"""Pooled connections are not pinged at every checkout (a round trip per transaction): one that died
while idle is replaced when the transaction's first statement fails, and the request is served."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from harness.postgres import connected
from tests.support import GraphQLClient, TenantFactory, make_settings, terminate_connections


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url, analysis_slots=0, db_pool_size=2)


async def terminate_other_backends(database_url: str) -> int:
    """What a server restart or an idle-connection killer does to the app's pooled connections."""
    async with connected(database_url) as admin:
        return await terminate_connections(admin, str(make_url(database_url).database))


async def test_requests_after_the_pooled_connections_died_are_served(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    who = await tenants.create()
    query = "{ viewer { role tenant { slug } } }"
    expected = (await gql(query, as_=who))["viewer"]
    assert await terminate_other_backends(database_url) >= 1
    for _ in range(3):  # every pooled connection was dead: each is replaced, none surfaces as an error
        assert (await gql(query, as_=who))["viewer"] == expected
