"""Live deal events for `dealEvents`: the deal's current health first, then each change of its health and each
time proposals of it are made or decided, as they are stored.

The health pool announces a change (status or warnings) with the row's new `version`, and proposals are
announced with their ids, each in the storing transaction and on one topic (`db.repositories.deal_events`).
The subscription registers with the hub before reading the current health, so no change is missed between
the two; a health announcement of a version already shown is dropped. On RESYNC (lost listener, slow consumer)
the health is read again and shown only if it is newer, and the deal's SUGGESTED proposals are sent again:
whatever was missed, what is still to decide is in them. Authorisation happens once: the deal's health is read
in the subscriber's tenant scope (NotFound for a deal the caller cannot see), and the hub hands it only its own
tenant's events.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from functools import partial

from dealgraph.db.models import DealProposal, ProposalStatus
from dealgraph.db.outage import through_blips
from dealgraph.db.repositories import proposals
from dealgraph.db.repositories.deal_events import HEALTH, PROPOSALS, TOPIC_FIELD
from dealgraph.db.session import TenantScope
from dealgraph.errors import NotFound
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub
from dealgraph.services.health import DealHealthView, current_health

DealEvent = DealHealthView | list[DealProposal]
"""The deal's health as it is now, or proposals of it just made or decided (never empty), as they are now."""


async def deal_events(scope: TenantScope, hub: NotificationHub, deal_id: uuid.UUID) -> AsyncGenerator[DealEvent, None]:
    """The health now, then every change of it and of the deal's proposals."""
    tenant, deal = str(scope.tenant_id), str(deal_id)

    def accepts(event: Event) -> bool:
        return event.get("tenant") == tenant and event.get(TOPIC_FIELD) == deal

    async def health() -> DealHealthView:
        view = await through_blips(lambda: current_health(scope, deal_id))
        if view is None:
            raise NotFound("Deal not found.")
        return view

    async def proposals_of(event: Event) -> list[DealProposal]:
        """The proposals the event names, or after a RESYNC the deal's open ones."""
        async with scope.session() as session:
            if event is RESYNC:
                (rows,) = await proposals.by_deals(session, [(deal_id, ProposalStatus.SUGGESTED.value)])
                return rows
            found = await proposals.by_ids(session, [uuid.UUID(i) for i in event["proposals"]])
        return [row for row in found if row is not None]

    async with hub.subscribe(accepts, (TOPIC_FIELD, deal)) as subscription:
        shown = await health()
        yield shown
        while True:
            event = await subscription.queue.get()
            if event is RESYNC or (event["kind"] == HEALTH and event["version"] > shown.version):
                latest = await health()
                if latest.version > shown.version:
                    shown = latest
                    yield shown
            if event is RESYNC or event["kind"] == PROPOSALS:
                changed = await through_blips(partial(proposals_of, event))
                if changed:
                    yield changed
