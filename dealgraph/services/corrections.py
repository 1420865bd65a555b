"""A person's corrections of an agent's result on a call: the expected answers experiments score against.

What can be corrected is a closed set (`CorrectedField`): a MEDDPICC element's status, an action item's owner
or due date, a stakeholder's committee role. The target must be in the call's latest result of that agent (a
MEDDPICC element always is), so a typo is refused instead of becoming an expectation nothing matches; the
value must be one the agent could have answered. Corrections never change a result: they are read beside it.
"""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs.meddpicc import MEDDPICC_ELEMENTS, MeddpiccStatus
from dealgraph.agents.outputs.stakeholders import CommitteeRole
from dealgraph.db.models import ResultCorrection
from dealgraph.db.repositories import corrections
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.validation import InvalidInput

_MAX_TARGET = 500
_MAX_OWNER = 200


class CorrectedField(enum.StrEnum):
    MEDDPICC_STATUS = "meddpicc_status"
    ACTION_ITEM_OWNER = "action_item_owner"
    ACTION_ITEM_DUE_DATE = "action_item_due_date"
    STAKEHOLDER_ROLE = "stakeholder_role"

    @property
    def agent(self) -> AgentKind:
        return _AGENT_FIELDS[self][0]

    @property
    def result_field(self) -> str:
        """The field's name in the agent's output model."""
        return _AGENT_FIELDS[self][1]


_AGENT_FIELDS = {
    CorrectedField.MEDDPICC_STATUS: (AgentKind.MEDDPICC, "status"),
    CorrectedField.ACTION_ITEM_OWNER: (AgentKind.ACTION_ITEMS, "owner"),
    CorrectedField.ACTION_ITEM_DUE_DATE: (AgentKind.ACTION_ITEMS, "due_date"),
    CorrectedField.STAKEHOLDER_ROLE: (AgentKind.STAKEHOLDERS, "committee_role"),
}


@dataclass(frozen=True, slots=True)
class CorrectionRequest:
    transcript_id: uuid.UUID | None
    field: CorrectedField
    target: str
    """The MEDDPICC element (e.g. "economic_buyer"), the action item's description, or the stakeholder's name."""
    value: str | None


def result_targets(field: CorrectedField, result: dict[str, Any] | None) -> list[str]:
    """What of this kind a result holds: its elements, its action items' descriptions, its stakeholders' names."""
    if field is CorrectedField.MEDDPICC_STATUS:
        return list(MEDDPICC_ELEMENTS)
    if result is None:
        return []
    if field is CorrectedField.STAKEHOLDER_ROLE:
        return [str(person["name"]) for person in result.get("stakeholders") or []]
    return [str(item["description"]) for item in result.get("items") or []]


def _value(field: CorrectedField, value: str | None) -> str | None:
    """The value as the agent would have answered it; InvalidInput naming the allowed ones otherwise."""
    allowed: list[str] | None = None
    if field is CorrectedField.MEDDPICC_STATUS:
        allowed = [status.value for status in MeddpiccStatus]
    elif field is CorrectedField.STAKEHOLDER_ROLE:
        allowed = [role.value for role in CommitteeRole]
    cleaned = value.strip() if value is not None else None
    if allowed is not None:
        if cleaned not in allowed:
            raise InvalidInput.at(("input", "value"), f"must be one of {', '.join(allowed)}")
        return cleaned
    if not cleaned:
        return None  # no owner, no due date: a valid expectation
    if field is CorrectedField.ACTION_ITEM_DUE_DATE:
        try:
            return date.fromisoformat(cleaned).isoformat()
        except ValueError:
            raise InvalidInput.at(("input", "value"), "must be a date like 2026-03-31, or null") from None
    if len(cleaned) > _MAX_OWNER:
        raise InvalidInput.at(("input", "value"), f"must be at most {_MAX_OWNER} characters")
    return cleaned


async def correct_result(scope: TenantScope, user_id: uuid.UUID | None, request: CorrectionRequest) -> ResultCorrection:
    value = _value(request.field, request.value)
    target = request.target.strip()
    if not target or len(target) > _MAX_TARGET:
        raise InvalidInput.at(("input", "target"), f"must be 1 to {_MAX_TARGET} characters")
    async with scope.session() as session:
        if request.transcript_id is None or not await corrections.transcript_exists(session, request.transcript_id):
            raise InvalidInput.at(("input", "transcript_id"), "no such transcript", ErrorCode.NOT_FOUND)
        agent = request.field.agent.value
        targets = result_targets(request.field, await corrections.latest_result(session, request.transcript_id, agent))
        if target not in targets:
            shown = "; ".join(targets[:10]) or f"none: the call has no {agent} result yet"
            raise InvalidInput.at(
                ("input", "target"), f"not in the call's latest {agent} result (it has: {shown})", ErrorCode.NOT_FOUND
            )
        return await corrections.save(
            session,
            {
                "tenant_id": scope.tenant_id,
                "transcript_id": request.transcript_id,
                "agent": agent,
                "target": target,
                "field": request.field.value,
                "value": value,
                "corrected_by_id": user_id,
            },
        )
