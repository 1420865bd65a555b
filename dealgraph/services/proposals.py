"""A person's decision on a proposed CRM update: accept (maybe with their own value) or reject, audited.

Accepting applies the value to the deal in the same transaction; a follow-up email is only taken (dealgraph
never sends mail). The deal is locked first, as when proposals are made, so a decision and a newer call's
proposals never interleave. A proposal whose field changed on the deal since it was made is refused as a
CONFLICT naming the field: accepting it would silently overwrite someone's change.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field
from pydantic.alias_generators import to_camel
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from dealgraph.db.models import Deal, DealProposal, DealStage, ProposalDecision, ProposalField, ProposalStatus
from dealgraph.db.models.crm import MAX_AMOUNT
from dealgraph.db.repositories import deals, proposals
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.validation import Checker, InvalidInput, Rules, text


class EmailDraftFields(TypedDict):
    subject: Annotated[str, text(200)]
    body: Annotated[str, text(5000)]


class ProposalValueFields(TypedDict, total=False):
    """A rep's own value for a proposal: the rules of the deal's fields (`dealgraph.services.deals`)."""

    close_date: date
    amount: Annotated[Decimal, Field(ge=0, le=MAX_AMOUNT, decimal_places=2)]
    next_step: Annotated[str, text(500)]
    stage: DealStage
    follow_up_email: EmailDraftFields


VALUE_RULES = Rules(ProposalValueFields, {("amount", "greater_than_equal"): "must not be negative"})


class RejectionFields(TypedDict, total=False):
    reason: Annotated[str, text(1000)] | None


REJECTION_RULES = Rules(RejectionFields)


async def accept(
    scope: TenantScope, actor_id: uuid.UUID, proposal_id: uuid.UUID | None, value: dict[str, Any] | None
) -> DealProposal:
    """ACCEPTED with the proposed value, or EDITED when `value` (one key: the proposal's field) differs."""
    async with scope.session() as session:
        proposal, deal = await _open(session, proposal_id)
        field = ProposalField(proposal.field)
        chosen = proposal.proposed if value is None else _own_value(field, value)
        before = proposals.deal_value(deal, field)
        if field.deal_column is not None:
            if before != proposal.current:
                raise InvalidInput.at(
                    "id",
                    f"the deal's {to_camel(field.value)} changed since this proposal was made (it was"
                    f" {_shown(proposal.current)}, it is {_shown(before)}); accepting it would overwrite that change",
                    ErrorCode.CONFLICT,
                )
            stage = deal.stage
            setattr(deal, field.deal_column, _deal_typed(field, chosen))
            if deal.stage != stage:  # an accepted stage is a stage change like any other: in the deal's history
                deals.record_stage_change(session, deal, stage, actor_id)
        status = ProposalStatus.ACCEPTED if chosen == proposal.proposed else ProposalStatus.EDITED
        after = proposals.deal_value(deal, field) if field.deal_column is not None else chosen
        return await _decide(session, proposal, actor_id, status, before, after, decided_value=chosen)


async def reject(
    scope: TenantScope, actor_id: uuid.UUID, proposal_id: uuid.UUID | None, reason: str | None
) -> DealProposal:
    """REJECTED; the deal is left as it is."""
    cleaned = REJECTION_RULES.validate({"reason": reason}).get("reason")
    async with scope.session() as session:
        proposal, deal = await _open(session, proposal_id)
        value = proposals.deal_value(deal, ProposalField(proposal.field))
        return await _decide(session, proposal, actor_id, ProposalStatus.REJECTED, value, value, reason=cleaned)


async def _open(session: AsyncSession, proposal_id: uuid.UUID | None) -> tuple[DealProposal, Deal]:
    """The proposal, still to be decided, and its deal, both locked (the deal first, the order every writer of
    proposals uses): NOT_FOUND (also another tenant's), or CONFLICT once decided."""
    deal_id = await proposals.deal_of(session, proposal_id) if proposal_id else None
    deal = await proposals.lock_deal(session, deal_id) if deal_id else None
    proposal = await proposals.get_for_update(session, proposal_id) if proposal_id and deal else None
    if proposal is None or deal is None:
        raise InvalidInput.at("id", "proposal not found", ErrorCode.NOT_FOUND)
    if proposal.status != ProposalStatus.SUGGESTED:
        raise InvalidInput.at("id", f"the proposal is already {proposal.status}", ErrorCode.CONFLICT)
    return proposal, deal


def _own_value(field: ProposalField, value: dict[str, Any]) -> Any:
    """The rep's value as stored: exactly the proposal's field, by the deal's rules; nothing saved otherwise."""
    check = Checker("value")
    for other in value.keys() - {field.value}:
        check.check(False, other, f"this proposal is for {to_camel(field.value)}; give only that field")
    check.check(field.value in value, field.value, f"give the value for {to_camel(field.value)}")
    cleaned = check.fields(VALUE_RULES, {field.value: value[field.value]} if field.value in value else {})
    check.raise_if_any()
    chosen: Any = cleaned[field.value]
    match chosen:
        case date():
            return chosen.isoformat()
        case DealStage():
            return chosen.value
        case Decimal():
            return str(chosen.quantize(Decimal("0.01")))
        case _:
            return chosen


def _deal_typed(field: ProposalField, stored: Any) -> Any:
    """A stored value as the deal's column holds it."""
    match field:
        case ProposalField.CLOSE_DATE:
            return date.fromisoformat(stored)
        case ProposalField.AMOUNT:
            return Decimal(stored)
        case ProposalField.STAGE:
            return DealStage(stored)
    return stored


def _shown(value: Any) -> str:
    return "not set" if value is None else str(value)


async def _decide(
    session: AsyncSession,
    proposal: DealProposal,
    actor_id: uuid.UUID,
    status: ProposalStatus,
    before: Any,
    after: Any,
    *,
    decided_value: Any = None,
    reason: str | None = None,
) -> DealProposal:
    proposal.status = status.value
    proposal.decided_value = decided_value
    proposal.decided_by_id = actor_id
    proposal.reason = reason
    proposal.decided_at = await proposals.now(session)
    await proposals.save(
        session,
        [
            ProposalDecision(
                tenant_id=proposal.tenant_id,
                proposal_id=proposal.id,
                deal_id=proposal.deal_id,
                decision=status.value,
                actor_id=actor_id,
                from_value=before,
                to_value=after,
                reason=reason,
            )
        ],
    )
    await proposals.announce(session, [proposal])
    return proposal
