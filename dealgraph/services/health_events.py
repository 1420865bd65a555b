"""Live deal events for `dealEvents`: the deal's current health first, then each change of it as it is stored.

The health pool announces a change (status or warnings) with the row's new `version`, in the storing
transaction. The subscription registers with the hub before reading the current health, so no change is missed
between the two; an announcement of a version already shown is dropped, and on RESYNC (lost listener, slow
consumer) the health is read again and shown only if it is newer. Authorisation happens once: the deal is read
in the subscriber's tenant scope, and the hub hands it only its own tenant's events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from typing import Any

from dealgraph.db.outage import through_blips
from dealgraph.db.session import TenantScope
from dealgraph.errors import NotFound
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub
from dealgraph.services.health import DealHealthView, current_health

TOPIC_FIELD = "healthDeal"
"""The events' deal field: not `deal`, so `dealAnalysisEvents` subscribers never hear them."""


def health_event(tenant_id: uuid.UUID, deal_id: uuid.UUID, version: int) -> dict[str, Any]:
    return {"kind": "health", "tenant": str(tenant_id), TOPIC_FIELD: str(deal_id), "version": version}


async def deal_events(
    scope: TenantScope, hub: NotificationHub, deal_id: uuid.UUID
) -> AsyncGenerator[tuple[uuid.UUID, DealHealthView], None]:
    """(deal id, health) now, then after every change; NotFound when the deal is not the scope's tenant's."""
    tenant, deal = str(scope.tenant_id), str(deal_id)

    def accepts(event: Event) -> bool:
        return event.get("tenant") == tenant and event.get(TOPIC_FIELD) == deal

    async def read() -> DealHealthView:
        view = await through_blips(lambda: current_health(scope, deal_id))
        if view is None:
            raise NotFound("Deal not found.")
        return view

    async with hub.subscribe(accepts, (TOPIC_FIELD, deal)) as subscription:
        shown = await read()
        yield deal_id, shown
        while True:
            event = await subscription.queue.get()
            if event is not RESYNC and event["version"] <= shown.version:
                continue
            latest = await read()
            if latest.version > shown.version:
                shown = latest
                yield deal_id, shown
