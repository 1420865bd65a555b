"""Authentication over HTTP and the masking of unexpected errors."""

from __future__ import annotations

from sqlalchemy import text
from starlette.applications import Starlette

from dealgraph.db.models import Role
from tests.support import REFUSAL_DEADLINE_S, GraphQLClient, TenantFactory, refused_within

VIEWER = "{ viewer { role tenant { slug } user { email role } } }"


async def test_missing_key_is_401_with_graphql_error(gql: GraphQLClient) -> None:
    response = await gql.raw(VIEWER)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert body["data"] is None


async def test_bad_key_is_401(gql: GraphQLClient) -> None:
    for header in ("Bearer dg_not-a-real-key", "Bearer ", "Basic abc", "dg_raw"):
        response = await gql.http.post("/graphql", json={"query": VIEWER}, headers={"Authorization": header})
        assert response.status_code == 401, header
        assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_valid_key_resolves_user_role_and_tenant(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create(Role.ADMIN, slug="acme-auth")
    member = await tenants.add_user(admin, Role.MEMBER)
    data = await gql(VIEWER, as_=admin)
    assert data["viewer"] == {
        "role": "ADMIN",
        "tenant": {"slug": "acme-auth"},
        "user": {"email": "admin@acme-auth.example", "role": "ADMIN"},
    }
    assert (await gql(VIEWER, as_=member))["viewer"]["role"] == "MEMBER"


async def test_revoked_key_is_refused(gql: GraphQLClient, tenants: TenantFactory) -> None:
    """Refused once the keys-revoked notification arrived (the principal cache drops the key then):
    milliseconds, but a request sent the instant the revoke commits may still pass."""
    handle = await tenants.create()
    assert (await gql.raw(VIEWER, as_=handle)).status_code == 200
    await tenants.revoke(handle)
    await refused_within(gql.http, handle, REFUSAL_DEADLINE_S)


async def test_revoked_key_is_refused_at_once_without_the_cache(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    handle = await tenants.create()
    app.state.graphql.principals.ttl_s = 0  # DEALGRAPH_AUTH_CACHE_S=0
    try:
        assert (await gql.raw(VIEWER, as_=handle)).status_code == 200
        await tenants.revoke(handle)
        assert (await gql.raw(VIEWER, as_=handle)).status_code == 401
    finally:
        app.state.graphql.principals.ttl_s = app.state.graphql.settings.auth_cache_s


async def test_request_id_is_echoed(gql: GraphQLClient, tenants: TenantFactory) -> None:
    handle = await tenants.create()
    response = await gql.http.post(
        "/graphql", json={"query": VIEWER}, headers={**handle.headers, "X-Request-ID": "trace-42"}
    )
    assert response.headers["x-request-id"] == "trace-42"
    generated = await gql.raw(VIEWER, as_=handle)
    assert len(generated.headers["x-request-id"]) == 32


async def test_graphiql_page_needs_no_key(gql: GraphQLClient) -> None:
    response = await gql.http.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_key_use_is_recorded(gql: GraphQLClient, tenants: TenantFactory, app: Starlette) -> None:
    handle = await tenants.create()
    prefix = handle.api_key[:11]
    query = text("SELECT last_used_at, key_hash FROM api_keys WHERE prefix = :p")
    async with app.state.database.owner_session() as session:
        before = (await session.execute(query, {"p": prefix})).one()
    assert before.last_used_at is None and handle.api_key not in before.key_hash  # only a hash is stored
    await gql(VIEWER, as_=handle)
    async with app.state.database.owner_session() as session:
        after = (await session.execute(query, {"p": prefix})).one()
    assert after.last_used_at is not None
