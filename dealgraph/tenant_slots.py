"""Per-tenant slots: a cap on how much of one process a single tenant can hold at once.

Without it one tenant's burst of expensive operations (or one operation with many aliased fields)
queues every other tenant behind it, first on the event loop and then on the connection pool.
A tenant over its cap waits a bounded time for a slot of its own and is then refused, while other
tenants keep their own slots.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dealgraph.errors import TooManyRequests


class TenantSlots:
    def __init__(self, per_tenant: int, wait_s: float, what: str) -> None:
        self.per_tenant = per_tenant
        self.wait_s = wait_s
        self.what = what  # names the cap in the refusal, e.g. "concurrent operations (DEALGRAPH_…)"
        self._semaphores: dict[uuid.UUID, asyncio.Semaphore] = {}
        self._holders: dict[uuid.UUID, int] = {}

    @asynccontextmanager
    async def hold(self, tenant_id: uuid.UUID) -> AsyncIterator[None]:
        semaphore = self._semaphores.setdefault(tenant_id, asyncio.Semaphore(self.per_tenant))
        self._holders[tenant_id] = self._holders.get(tenant_id, 0) + 1
        try:
            try:
                await asyncio.wait_for(semaphore.acquire(), self.wait_s)
            except TimeoutError:
                raise TooManyRequests(
                    f"Too many {self.what} for your tenant at once (limit {self.per_tenant}); retry shortly.",
                    retry_after_s=max(1, round(self.wait_s)),
                ) from None
            try:
                yield
            finally:
                semaphore.release()
        finally:
            self._forget(tenant_id)

    def _forget(self, tenant_id: uuid.UUID) -> None:
        """Drop an idle tenant's semaphore so the map does not grow with every tenant ever seen."""
        self._holders[tenant_id] -= 1
        if self._holders[tenant_id] == 0:
            del self._holders[tenant_id]
            del self._semaphores[tenant_id]
