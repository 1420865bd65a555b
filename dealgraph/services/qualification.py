"""The MEDDPICC roll-up of a deal across all of its analysed calls.

For each element, the most recent call (by when it took place) whose analysis found the element
identified or partial sets it, with the evidence from that call; an element no call covered is
missing. A call discussed again later overrides an earlier call, and a later call that simply
did not touch an element does not erase what an earlier call established. When a transcript was
analysed more than once, its latest successful MEDDPICC result counts.

Over time (`history`), each analysed call is scored on its own: identified = 1, partial = 0.5, missing = 0,
summed over the eight elements and divided by eight, so a score is between 0 and 1 whatever the element
count; its trend compares it with the call before (by when the calls took place).
"""

from __future__ import annotations

import enum
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


_WEIGHT = {MeddpiccStatus.IDENTIFIED: 1.0, MeddpiccStatus.PARTIAL: 0.5, MeddpiccStatus.MISSING: 0.0}


def score(statuses: Sequence[MeddpiccStatus]) -> float:
    """identified = 1, partial = 0.5, missing = 0, averaged over the elements: from 0 to 1."""
    return sum(_WEIGHT[status] for status in statuses) / len(MEDDPICC_ELEMENTS)


class Trend(enum.Enum):
    UP = "up"
    DOWN = "down"
    FLAT = "flat"


def trend(previous: float | None, current: float) -> Trend | None:
    """None for the first call: there is nothing to compare with."""
    if previous is None:
        return None
    if abs(current - previous) < 1e-9:
        return Trend.FLAT
    return Trend.UP if current > previous else Trend.DOWN


@dataclass(frozen=True, slots=True)
class Qualification:
    analysed_calls: int
    elements: list[ElementStanding]

    @property
    def score(self) -> float:
        """The roll-up's score (see `score`), 0 with no analysed call."""
        return score([element.status for element in self.elements])


@dataclass(frozen=True, slots=True)
class ScoredCall:
    """One analysed call's own MEDDPICC, its score, and its trend against the call before."""

    call: CallResult
    score: float
    trend: Trend | None

    def element(self, key: str) -> MeddpiccElement:
        element: MeddpiccElement = getattr(self.call.output, key)
        return element


def history(calls: Sequence[CallResult]) -> list[ScoredCall]:
    """`calls` newest first (as loaded); the history oldest first."""
    scored: list[ScoredCall] = []
    previous: float | None = None
    for call in reversed(calls):
        current = score([getattr(call.output, key).status for key in MEDDPICC_ELEMENTS])
        scored.append(ScoredCall(call, current, trend(previous, current)))
        previous = current
    return scored


def roll_up(calls: Sequence[CallResult]) -> Qualification:
    """`calls` newest first, one per transcript."""
    elements = []
    for key in MEDDPICC_ELEMENTS:
        setting = next((c for c in calls if getattr(c.output, key).status is not MeddpiccStatus.MISSING), None)
        elements.append(ElementStanding(key, getattr(setting.output, key) if setting else None, setting))
    return Qualification(len(calls), elements)


async def load_analysed_calls(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[list[CallResult]]:
    """DataLoader batch: every deal's analysed calls (newest first, the latest result of each) from one query;
    the roll-up and the history are both computed from them."""
    async with scope.session() as session:
        rows = await analyses.succeeded_results(session, deal_ids, AgentKind.MEDDPICC.value)
    return analysed_calls(rows, deal_ids)


def analysed_calls(rows: Sequence[Any], deal_ids: Sequence[uuid.UUID]) -> list[list[CallResult]]:
    """Rows of `analyses.succeeded_results` per deal, the latest result of each transcript only."""
    by_deal: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for deal_id, *result in rows:
        by_deal[deal_id].append(result)
    return [calls_of(by_deal[deal_id]) for deal_id in deal_ids]


def calls_of(rows: Sequence[Any]) -> list[CallResult]:
    """One deal's (transcript id, call time, analysed at, result) rows, in `analyses.succeeded_results`' order:
    the latest result of each transcript only."""
    calls: list[CallResult] = []
    counted: set[uuid.UUID] = set()
    for transcript_id, occurred_at, finished_at, result in rows:
        if transcript_id not in counted:  # the latest result of each transcript only
            counted.add(transcript_id)
            calls.append(CallResult(transcript_id, occurred_at, finished_at, MeddpiccOutput.model_validate(result)))
    return calls
