"""Root subscription: live analysis events over graphql-transport-ws."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator

import strawberry
from strawberry import relay

from dealgraph.resolvers.analysis_events import DomainEvent, analysis_snapshot, deal_snapshot, stream_events
from dealgraph.resolvers.ids import node_uuid
from dealgraph.schema.analysis_events import AnalysisEvent, to_graphql
from dealgraph.schema.common import UNKNOWN_ID
from dealgraph.server.context import Context

Info = strawberry.Info[Context, None]


async def _publish(info: Info, events: AsyncIterator[DomainEvent]) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
    async for event in events:
        info.context.reset_loaders()  # a long-lived subscription must never serve cached rows
        yield to_graphql(event)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every agent's state, progress and result as it happens. A late subscriber first gets the "
        "current state of every agent, then live events (no gap, no duplicate); completes after AnalysisFinished."
    )
    async def analysis_events(self, info: Info, analysis_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
        scope, target = info.context.tenant, node_uuid(analysis_id, "Analysis") or UNKNOWN_ID
        assert info.context.hub is not None
        events = stream_events(
            scope,
            info.context.hub,
            accepts=lambda event: event.get("analysis") == str(target),
            snapshot=lambda: analysis_snapshot(scope, target),
            until_finished=True,
        )
        async for event in _publish(info, events):
            yield event

    @strawberry.subscription(
        description="Events of every analysis of the deal's transcripts; starts with the analyses in progress."
    )
    async def deal_analysis_events(self, info: Info, deal_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
        scope, target = info.context.tenant, node_uuid(deal_id, "Deal") or UNKNOWN_ID
        assert info.context.hub is not None
        events = stream_events(
            scope,
            info.context.hub,
            accepts=lambda event: event.get("deal") == str(target),
            snapshot=lambda: deal_snapshot(scope, target),
            until_finished=False,
        )
        async for event in _publish(info, events):
            yield event
