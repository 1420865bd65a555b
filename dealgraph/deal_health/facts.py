"""What a deal's health is computed from, read for one deal: its stage, calls, agent results, people, and whether
the search service finds a pricing moment on its calls."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import ActionItemsOutput, MeetingOutput
from dealgraph.db.repositories import analyses, deals, health, people
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.db.session import TenantScope
from dealgraph.search.embedders import EmbedderName
from dealgraph.search.modes import search
from dealgraph.search.request import Search, SearchMode
from dealgraph.services.health_rules import (
    PRICING_QUERY,
    Analysed,
    Call,
    DealFacts,
    HealthWarning,
    WarningCode,
    WarningSetting,
    settings_from,
)
from dealgraph.services.pagination import PageRequest
from dealgraph.services.people import appearances
from dealgraph.services.qualification import analysed_calls

ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class DealFactsRead:
    facts: DealFacts
    previous: list[HealthWarning]
    settings: dict[WarningCode, WarningSetting]
    version: int
    shown: tuple[str, list[dict[str, Any]]]
    """What the API showed before (status and warnings): a change of it is a `dealEvents` event."""


async def read_facts(
    scope: TenantScope, deal_id: uuid.UUID, now: datetime, embedding_model: EmbedderName
) -> DealFactsRead | None:
    """Everything the deal's health depends on, at `now`; None when the deal is gone."""
    async with scope.session() as session:
        deal = await deals.get(session, deal_id)
        stored = await health.get(session, deal_id)
        if deal is None or stored is None:
            return None
        changes = await deals.stage_changes(session, [deal_id])
        calls = [
            Call(transcript_id, occurred_at)
            for transcript_id, occurred_at in await health.calls_of_deal(session, deal_id)
        ]
        meddpicc = analysed_calls(
            await analyses.succeeded_results(session, [deal_id], AgentKind.MEDDPICC.value), [deal_id]
        )[0]
        meetings = _latest(
            await analyses.succeeded_results(session, [deal_id], AgentKind.MEETING_INTELLIGENCE.value), MeetingOutput
        )
        items = _latest(
            await analyses.succeeded_results(session, [deal_id], AgentKind.ACTION_ITEMS.value), ActionItemsOutput
        )
        seen = appearances(await people.appearances_on_deals(session, [deal_id]), "deal_id").get(deal_id, [])
        saved_settings = await health.settings(session)
    pricing = await search(
        scope,
        Search(PRICING_QUERY, SearchMode.KEYWORD, SearchFilters(deal_id=deal_id), embedding_model, 0.0),
        PageRequest(first=1, after=None),
    )
    facts = DealFacts(
        now=now,
        stage=deal.stage,
        stage_entered_at=changes[-1].changed_at if changes else deal.created_at,
        calls=calls,
        meddpicc=meddpicc,
        meetings=meetings,
        action_items=items,
        people=seen,
        pricing_discussed=bool(pricing.items),
    )
    previous = [HealthWarning.from_json(w) for w in stored.warnings]
    return DealFactsRead(
        facts, previous, settings_from(saved_settings), stored.version, (stored.health, list(stored.warnings))
    )


def _latest(rows: Sequence[Any], model: type[ModelT]) -> list[Analysed[ModelT]]:
    """Rows of `analyses.succeeded_results` (newest call first, latest result first): each call's latest result."""
    latest: dict[uuid.UUID, Analysed[ModelT]] = {}
    for _, transcript_id, occurred_at, _, result in rows:
        if transcript_id not in latest:
            latest[transcript_id] = Analysed(Call(transcript_id, occurred_at), model.model_validate(result))
    return list(latest.values())
