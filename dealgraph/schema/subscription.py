"""Root subscription: live analysis events over graphql-transport-ws."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable

import strawberry
from strawberry import relay

from dealgraph.resolvers.analysis_events import AnalysisDone, Snapshot, analysis_snapshot, deal_snapshot, stream_events
from dealgraph.resolvers.ids import node_uuid
from dealgraph.schema.analysis_events import AnalysisEvent, to_graphql
from dealgraph.schema.common import UNKNOWN_ID
from dealgraph.server.context import Context

Info = strawberry.Info[Context, None]


async def _publish(
    info: Info, key: str, target: uuid.UUID, snapshot: Callable[[], Awaitable[Snapshot]], *, until_finished: bool
) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
    """Events whose `key` (analysis or deal) is `target`, snapshot first, as GraphQL objects."""
    assert info.context.hub is not None
    events = stream_events(
        info.context.tenant,
        info.context.hub,
        topic=(key, str(target)),
        snapshot=snapshot,
        until_finished=until_finished,
    )
    async for event in events:
        info.context.reset_loaders()  # a long-lived subscription must never serve cached rows
        if isinstance(event, AnalysisDone):  # its totals were read once for every subscriber: no read each
            info.context.loaders.runs_by_analysis.prime(event.analysis.id, list(event.runs))
        yield to_graphql(event)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Every agent's state, progress and result as it happens. A late subscriber first gets the "
        "current state of every agent, then live events (no gap, no duplicate); completes after AnalysisFinished."
    )
    async def analysis_events(self, info: Info, analysis_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
        scope, target = info.context.tenant, node_uuid(analysis_id, "Analysis") or UNKNOWN_ID
        async for event in _publish(info, "analysis", target, lambda: analysis_snapshot(scope, target), until_finished=True):
            yield event

    @strawberry.subscription(
        description="Events of every analysis of the deal's transcripts; starts with the analyses in progress."
    )
    async def deal_analysis_events(self, info: Info, deal_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:  # type: ignore[valid-type]
        scope, target = info.context.tenant, node_uuid(deal_id, "Deal") or UNKNOWN_ID
        async for event in _publish(info, "deal", target, lambda: deal_snapshot(scope, target), until_finished=False):
            yield event
