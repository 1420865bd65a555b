"""Conversation metrics over many calls: a deal's (with each call's own), a person's in a date range.

The roll-ups are SQL aggregates (`dealgraph.db.repositories.conversation`), the same ones deals and people
are ordered by; their definitions are in `dealgraph.transcripts.metrics`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dealgraph.db.repositories import conversation
from dealgraph.db.session import TenantScope
from dealgraph.transcripts.metrics import ConversationFigure, Timing


@dataclass(frozen=True, slots=True)
class Rollup:
    calls: int = 0
    timing: Timing | None = None
    """EXACT only if every call's metrics are; None without calls."""
    duration_seconds: float = 0.0
    talk_ratio: float | None = None
    longest_monologue_seconds: float | None = None
    longest_customer_story_seconds: float | None = None
    interactivity: float | None = None
    patience_mean_seconds: float | None = None
    question_rate: float | None = None
    words_per_minute: float | None = None
    filler_rate: float | None = None

    @classmethod
    def of(cls, row: Any) -> Rollup:
        return cls(
            calls=row.calls,
            timing=Timing.EXACT if row.exact else Timing.ESTIMATED,
            duration_seconds=row.duration_seconds,
            **{figure.value: getattr(row, figure.value) for figure in ConversationFigure},
        )


@dataclass(frozen=True, slots=True)
class DealCalls:
    """A deal's roll-up and each of its calls' metrics as stored (transcript id -> metrics)."""

    rollup: Rollup = Rollup()
    metrics: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)


async def load_deal_calls(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[DealCalls]:
    """DataLoader batch: every deal's roll-up and its calls' metrics, in one statement."""
    async with scope.session() as session:
        rows = await conversation.of_deals(session, deal_ids)
    found = {
        row.deal_id: DealCalls(Rollup.of(row), {uuid.UUID(t): m for t, m in row.calls_metrics.items()}) for row in rows
    }
    return [found.get(deal_id, DealCalls()) for deal_id in deal_ids]


PersonRange = tuple[uuid.UUID, datetime | None, datetime | None]
"""A person and the [from, to) range of their calls' dates."""


async def load_person_rollups(scope: TenantScope, keys: Sequence[PersonRange]) -> list[Rollup]:
    """DataLoader batch: one statement per distinct date range (a page of people asks for one)."""
    by_range: dict[tuple[datetime | None, datetime | None], list[uuid.UUID]] = defaultdict(list)
    for person_id, start, end in keys:
        by_range[start, end].append(person_id)
    found: dict[PersonRange, Rollup] = {}
    async with scope.session() as session:
        for (start, end), person_ids in by_range.items():
            for row in await conversation.of_people(session, person_ids, start, end):
                found[row.person_id, start, end] = Rollup.of(row)
    return [found.get(key, Rollup()) for key in keys]
