"""The MEDDPICC roll-up of a deal across all of its analysed calls.

For each element, the most recent call (by when it took place) whose analysis found the element
identified or partial sets it, with the evidence from that call; an element no call covered is
missing. A call discussed again later overrides an earlier call, and a later call that simply
did not touch an element does not erase what an earlier call established. When a transcript was
analysed more than once, its latest successful MEDDPICC result counts.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import MEDDPICC_ELEMENTS, MeddpiccElement, MeddpiccOutput, MeddpiccStatus
from dealgraph.db.repositories import analyses
from dealgraph.db.session import TenantScope


@dataclass(frozen=True, slots=True)
class CallResult:
    transcript_id: uuid.UUID
    occurred_at: datetime
    analysed_at: datetime
    output: MeddpiccOutput


@dataclass(frozen=True, slots=True)
class ElementStanding:
    key: str
    element: MeddpiccElement | None
    source: CallResult | None

    @property
    def status(self) -> MeddpiccStatus:
        return self.element.status if self.element else MeddpiccStatus.MISSING


@dataclass(frozen=True, slots=True)
class Qualification:
    analysed_calls: int
    elements: list[ElementStanding]


def roll_up(calls: Sequence[CallResult]) -> Qualification:
    """`calls` newest first, one per transcript."""
    elements = []
    for key in MEDDPICC_ELEMENTS:
        setting = next((c for c in calls if getattr(c.output, key).status is not MeddpiccStatus.MISSING), None)
        elements.append(ElementStanding(key, getattr(setting.output, key) if setting else None, setting))
    return Qualification(len(calls), elements)


async def load_qualifications(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[Qualification]:
    """DataLoader batch: every deal's roll-up from one query."""
    async with scope.session() as session:
        rows = await analyses.succeeded_results(session, deal_ids, AgentKind.MEDDPICC.value)
    calls: dict[uuid.UUID, list[CallResult]] = defaultdict(list)
    counted: set[uuid.UUID] = set()
    for deal_id, transcript_id, occurred_at, finished_at, result in rows:
        if transcript_id not in counted:  # the latest result of each transcript only
            counted.add(transcript_id)
            calls[deal_id].append(
                CallResult(transcript_id, occurred_at, finished_at, MeddpiccOutput.model_validate(result))
            )
    return [roll_up(calls[deal_id]) for deal_id in deal_ids]
