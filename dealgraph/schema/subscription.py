"""Root subscription: live analysis, proposal and experiment events over graphql-transport-ws."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator
from contextlib import aclosing

import strawberry
from strawberry import relay

from dealgraph.schema.analysis_events import AnalysisEvent, to_graphql
from dealgraph.schema.common import UNKNOWN_ID
from dealgraph.schema.context import Context
from dealgraph.schema.experiments import ExperimentProgress
from dealgraph.schema.health import DealEvent, DealHealthChanged
from dealgraph.schema.permissions import IsAdmin
from dealgraph.schema.proposals import ProposalsChanged
from dealgraph.services import experiments
from dealgraph.services.analysis_events import (
    AnalysisDone,
    SnapshotRead,
    analysis_snapshot,
    deal_snapshot,
    stream_events,
)
from dealgraph.services.deal_events import deal_events
from dealgraph.services.ids import node_uuid

Info = strawberry.Info[Context, None]


async def _publish(
    info: Info, key: str, target: uuid.UUID, snapshot: SnapshotRead, *, until_finished: bool
) -> AsyncGenerator[AnalysisEvent, None]:
    """Events whose `key` (analysis or deal) is `target`, snapshot first, as GraphQL objects.

    Every generator in the chain is closed explicitly (`aclosing`): `async for` leaves the inner one
    suspended when the outer is closed, and its hub registration would then outlive the operation the
    client completed until the garbage collector finalised it."""
    assert info.context.hub is not None
    events = stream_events(
        info.context.tenant,
        info.context.hub,
        topic=(key, str(target)),
        snapshot=snapshot,
        until_finished=until_finished,
    )
    async with aclosing(events):
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
    async def analysis_events(self, info: Info, analysis_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:
        scope, target = info.context.tenant, node_uuid(analysis_id, "Analysis") or UNKNOWN_ID
        events = _publish(
            info, "analysis", target, lambda begin: analysis_snapshot(scope, target, begin), until_finished=True
        )
        async with aclosing(events):
            async for event in events:
                yield event

    @strawberry.subscription(
        description="The deal's health now (DealHealthChanged), then each change of its status or warnings and "
        "each time proposals of it are made or decided (ProposalsChanged), as they are stored. After a lost "
        "connection to the event source, the health is sent again if it changed and the SUGGESTED proposals are."
    )
    async def deal_events(self, info: Info, deal_id: relay.GlobalID) -> AsyncGenerator[DealEvent, None]:
        assert info.context.hub is not None
        target = node_uuid(deal_id, "Deal") or UNKNOWN_ID
        events = deal_events(info.context.tenant, info.context.hub, target)
        async with aclosing(events):
            async for event in events:
                info.context.reset_loaders()  # a long-lived subscription must never serve cached rows
                if isinstance(event, list):
                    yield ProposalsChanged.of(target, event)
                else:
                    yield DealHealthChanged.of(target, event)

    @strawberry.subscription(
        description="Events of every analysis of the deal's transcripts; starts with the analyses in progress."
    )
    async def deal_analysis_events(self, info: Info, deal_id: relay.GlobalID) -> AsyncGenerator[AnalysisEvent, None]:
        scope, target = info.context.tenant, node_uuid(deal_id, "Deal") or UNKNOWN_ID
        events = _publish(info, "deal", target, lambda begin: deal_snapshot(scope, target, begin), until_finished=False)
        async with aclosing(events):
            async for event in events:
                yield event

    @strawberry.subscription(
        description="Admins: an experiment's progress now, then at each change (answers stored, batch sent); "
        "completes once it has ended.",
        permission_classes=[IsAdmin],
    )
    async def experiment_events(
        self, info: Info, experiment_id: relay.GlobalID
    ) -> AsyncGenerator[ExperimentProgress, None]:
        assert info.context.hub is not None
        target = node_uuid(experiment_id, "Experiment")
        changes = experiments.experiment_events(info.context.tenant, info.context.hub, target)
        async with aclosing(changes):
            async for progress in changes:
                info.context.reset_loaders()  # a long-lived subscription must never serve cached rows
                yield ExperimentProgress.of(progress)
