"""Helpers shared by the tests: tenants with API keys, and a small GraphQL-over-HTTP client."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import httpx

from dealgraph.db.models import Role, Tenant
from dealgraph.db.repositories import tenancy
from dealgraph.db.session import Database


@dataclass(frozen=True)
class TenantHandle:
    tenant_id: uuid.UUID
    user_id: uuid.UUID
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


class TenantFactory:
    def __init__(self, database: Database) -> None:
        self.database = database

    async def create(self, role: Role = Role.ADMIN, slug: str | None = None) -> TenantHandle:
        slug = slug or f"t-{uuid.uuid4().hex[:10]}"
        async with self.database.owner_session() as session:
            tenant = await tenancy.create_tenant(session, slug.title(), slug)
            user = await tenancy.ensure_user(session, tenant, f"{role.value}@{slug}.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.id, user.id, issued.key)

    async def add_user(self, tenant: TenantHandle, role: Role) -> TenantHandle:
        async with self.database.owner_session() as session:
            row = await session.get(Tenant, tenant.tenant_id)
            assert row is not None
            user = await tenancy.ensure_user(session, row, f"{role.value}-{uuid.uuid4().hex[:6]}@x.example", role)
            issued = await tenancy.issue_api_key(session, user, "tests")
        return TenantHandle(tenant.tenant_id, user.id, issued.key)


    async def revoke(self, handle: TenantHandle) -> None:
        async with self.database.owner_session() as session:
            assert await tenancy.revoke_api_key(session, handle.api_key[:11]) == 1


class GraphQLClient:
    def __init__(self, http: httpx.AsyncClient) -> None:
        self.http = http

    async def raw(self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle | None = None) -> httpx.Response:
        headers = as_.headers if as_ else {}
        return await self.http.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, *, as_: TenantHandle) -> dict[str, Any]:
        """Run an operation that must succeed without GraphQL errors; returns `data`."""
        response = await self.raw(query, variables, as_=as_)
        body = response.json()
        assert response.status_code == 200 and not body.get("errors"), body
        return body["data"]
