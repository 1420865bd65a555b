"""Tenants, users and API keys: bootstrap (CLI, as the owner role) and per-request authentication."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import ApiKey, Role, Tenant, User

KEY_PREFIX = "dg_"
_SHOWN_PREFIX_LENGTH = 11


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a valid API key speaks for."""

    api_key_id: uuid.UUID
    user_id: uuid.UUID
    tenant_id: uuid.UUID
    role: Role


@dataclass(frozen=True, slots=True)
class IssuedKey:
    key: str
    api_key: ApiKey


async def authenticate(session: AsyncSession, key: str) -> Principal | None:
    if not key.startswith(KEY_PREFIX):
        return None
    row = (await session.execute(text("SELECT * FROM dealgraph_authenticate(:h)"), {"h": hash_api_key(key)})).first()
    if row is None:
        return None
    return Principal(row.api_key_id, row.user_id, row.tenant_id, Role(row.role))


async def create_tenant(session: AsyncSession, name: str, slug: str) -> Tenant:
    tenant = Tenant(name=name, slug=slug)
    session.add(tenant)
    await session.flush()
    return tenant


async def current_tenant(session: AsyncSession) -> Tenant:
    """The tenant of a tenant transaction: row-level security leaves exactly that one row."""
    return (await session.execute(select(Tenant))).scalar_one()


def applied_queue_cap(server_cap: int, tenant_cap: int | None) -> int | None:
    """The cap on a tenant's queued runs in force (None: no cap). The server's `max_queued_runs` (0: no cap) is
    the default and the ceiling: the operator sizes the queue for every tenant, an admin may only lower their share."""
    if tenant_cap is None:
        return server_cap or None
    return min(tenant_cap, server_cap) if server_cap else tenant_cap


def applied_experiment_budget(server_budget: float, tenant_budget: float | None) -> float:
    """The most one of a tenant's experiments may cost. The server's `experiment_budget_usd` is the default and
    the ceiling, as with the queue cap: an admin may only lower their tenant's budget."""
    return server_budget if tenant_budget is None else min(tenant_budget, server_budget)


async def set_limits(session: AsyncSession, limits: Mapping[str, object]) -> Tenant:
    """Sets limits (columns by name) of the transaction's tenant; row-level security leaves only its row to
    update, and the application role may update only the limit columns of it."""
    tenant = await current_tenant(session)
    for name, value in limits.items():
        setattr(tenant, name, value)
    await session.flush()
    return tenant


async def tenant_by_slug(session: AsyncSession, slug: str) -> Tenant | None:
    return (await session.execute(select(Tenant).where(Tenant.slug == slug))).scalar_one_or_none()


async def ensure_user(session: AsyncSession, tenant: Tenant, email: str, role: Role) -> User:
    user = (
        await session.execute(select(User).where(User.tenant_id == tenant.id, User.email == email))
    ).scalar_one_or_none()
    if user is None:
        user = User(tenant_id=tenant.id, email=email, display_name=email.split("@")[0], role=role)
        session.add(user)
    user.role = role
    await session.flush()
    return user


async def issue_api_key(session: AsyncSession, user: User, name: str) -> IssuedKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        tenant_id=user.tenant_id,
        user_id=user.id,
        name=name,
        prefix=key[:_SHOWN_PREFIX_LENGTH],
        key_hash=hash_api_key(key),
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(key, api_key)


async def revoke_api_key(session: AsyncSession, prefix: str) -> int:
    """Revoke the live keys shown with this prefix; returns how many were revoked."""
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.prefix == prefix, ApiKey.revoked_at.is_(None))
        .values(revoked_at=func.now())
        .returning(ApiKey.id)
    )
    return len(result.all())


async def live_api_key_ids(session: AsyncSession, ids: Collection[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `ids` neither revoked nor deleted (an owner session sees every tenant's keys)."""
    return set(await session.scalars(select(ApiKey.id).where(ApiKey.id.in_(ids), ApiKey.revoked_at.is_(None))))
