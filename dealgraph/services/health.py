"""Deal health: what it is computed from (read for one deal), the stored result as the API shows it, and the
tenant's warning settings an admin edits.

Computing is the health pool's (`dealgraph.services.health_pool`), off the request path; requests read
what it stored. A deal whose health was never computed yet reads as UNKNOWN, `pending`.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dealgraph.db.models import DealHealth
from dealgraph.db.repositories import deals, health
from dealgraph.db.repositories.graph_reads import StoredHealth
from dealgraph.db.session import TenantScope
from dealgraph.services.health_rules import (
    HEALTH_RANK,
    RULES,
    Assessment,
    HealthStatus,
    HealthWarning,
    NextStep,
    WarningCode,
    WarningSetting,
    settings_from,
)
from dealgraph.validation import Checker


def stored(assessment: Assessment) -> health.StoredHealth:
    return health.StoredHealth(
        health=assessment.status.value,
        rank=HEALTH_RANK[assessment.status],
        warnings=[w.to_json() for w in assessment.warnings],
        codes=[w.code.value for w in assessment.warnings],
        next_step=assessment.next_step.to_json() if assessment.next_step else None,
        recheck_at=assessment.recheck_at,
    )


@dataclass(frozen=True, slots=True)
class DealHealthView:
    """The stored health as the API shows it."""

    status: HealthStatus
    warnings: list[HealthWarning]
    next_step: NextStep | None
    computed_at: datetime | None
    pending: bool
    """A recompute is requested or under way: what is shown may change shortly."""
    version: int

    @classmethod
    def of(cls, row: DealHealth | StoredHealth | None) -> DealHealthView:
        if row is None:
            return cls(HealthStatus.UNKNOWN, [], None, None, True, 0)
        return cls(
            status=HealthStatus(row.health),
            warnings=[HealthWarning.from_json(w) for w in row.warnings],
            next_step=NextStep.from_json(row.next_step) if row.next_step else None,
            computed_at=row.computed_at,
            pending=row.status in ("queued", "running"),
            version=row.version,
        )


async def load_health(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[DealHealthView]:
    """DataLoader batch: the stored health of each deal, from one statement."""
    async with scope.session() as session:
        rows = {row.deal_id: row for row in await health.of_deals(session, deal_ids)}
    return [DealHealthView.of(rows.get(deal_id)) for deal_id in deal_ids]


async def current_health(scope: TenantScope, deal_id: uuid.UUID) -> DealHealthView | None:
    """None when the deal is not the scope's tenant's (or does not exist)."""
    async with scope.session() as session:
        if await deals.get(session, deal_id) is None:
            return None
        return DealHealthView.of(await health.get(session, deal_id))


async def health_settings(scope: TenantScope) -> dict[WarningCode, WarningSetting]:
    async with scope.session() as session:
        return settings_from(await health.settings(session))


@dataclass(frozen=True, slots=True)
class SettingChange:
    code: WarningCode
    enabled: bool | None
    threshold: int | None
    threshold_given: bool


async def save_health_settings(
    scope: TenantScope, changes: Sequence[SettingChange]
) -> dict[WarningCode, WarningSetting]:
    """Saves the warnings named (the others keep theirs); every deal's health is then recomputed."""
    check = Checker("input", "warnings")
    for change in changes:
        limits = RULES[change.code].threshold
        if change.threshold_given and limits is None:
            check.check(change.threshold is None, "threshold", f"{change.code.value} has no threshold")
        elif change.threshold_given and limits is not None:
            within = change.threshold is not None and limits.least <= change.threshold <= limits.most
            message = f"{change.code.value}: must be {limits.least} to {limits.most} ({limits.meaning})"
            check.check(within, "threshold", message)
    codes = [change.code for change in changes]
    check.check(len(set(codes)) == len(codes), "code", "each warning at most once")
    check.raise_if_any()
    async with scope.session() as session:
        saved = await health.settings(session)
        for change in changes:
            entry = dict(saved.get(change.code.value, {}))
            if change.enabled is not None:
                entry["enabled"] = change.enabled
            if change.threshold_given and change.threshold is not None:
                entry["threshold"] = change.threshold
            saved[change.code.value] = entry
        await health.save_settings(session, scope.tenant_id, saved)
    return settings_from(saved)


def shown(assessment: Assessment) -> tuple[str, list[dict[str, Any]]]:
    """What the API shows of a health, to tell whether a recompute changed it."""
    return stored(assessment).health, stored(assessment).warnings
