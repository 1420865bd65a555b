"""The CRM updates a meeting-intelligence run found, recorded as proposals a person decides.

Each update with at least one verified quote becomes a SUGGESTED proposal holding the deal's value of the
field at that moment; one that would set the value the deal already has is left out. The deal's open
proposals for the same fields are SUPERSEDED by the newer call, and audited as such. Nothing here changes the
deal: a person accepts, edits or rejects (`dealgraph.services.proposals`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import CrmUpdates, FollowUpEmail, MeetingOutput
from dealgraph.db.models import Deal, DealProposal, ProposalDecision, ProposalField, ProposalStatus
from dealgraph.db.models.crm import MAX_AMOUNT
from dealgraph.db.outage import log_failure, through_blips
from dealgraph.db.repositories import proposals
from dealgraph.db.repositories.runs import ClaimedRun
from dealgraph.db.session import Database

log = logging.getLogger(__name__)
_CENT = Decimal("0.01")


async def record_proposals(database: Database, claimed: ClaimedRun, result: dict[str, Any] | None) -> None:
    """Never fails: the run's result matters more than the proposals it leads to, so a failure is logged.

    Retried through a lost connection: it is one transaction, and a run whose proposals exist adds none."""
    if claimed.agent != AgentKind.MEETING_INTELLIGENCE.value or result is None:
        return
    updates = MeetingOutput.model_validate(result).crm_updates

    async def record() -> None:
        async with database.tenant_session(claimed.tenant_id) as session:
            await propose(session, claimed, updates)

    try:
        await through_blips(record)
    except Exception as error:
        log_failure(log, error, f"recording the proposals of run {claimed.id}")


async def propose(session: AsyncSession, claimed: ClaimedRun, updates: CrmUpdates) -> list[DealProposal]:
    """The proposals made (none if the run's were recorded before, or the deal is gone)."""
    deal = await proposals.lock_deal(session, claimed.deal_id)
    if deal is None or await proposals.run_has_proposals(session, claimed.id):  # checked under the deal's lock
        return []
    made = [
        DealProposal(
            tenant_id=claimed.tenant_id,
            deal_id=deal.id,
            analysis_id=claimed.analysis_id,
            run_id=claimed.id,
            transcript_id=claimed.transcript_id,
            field=field.value,
            status=ProposalStatus.SUGGESTED.value,
            proposed=value,
            current=current,
            confidence=update.confidence,
            evidence=[evidence.model_dump(mode="json") for evidence in update.evidence],
        )
        for field, update, value in _proposed(updates)
        if value != (current := proposals.deal_value(deal, field))
    ]
    if not made:
        return []
    superseded = await proposals.supersede(session, deal.id, [row.field for row in made])
    await proposals.save(session, made)
    await proposals.save(session, [_superseded(row, deal) for row in superseded])
    await proposals.announce(session, [*superseded, *made])
    return made


def _proposed(updates: CrmUpdates) -> Iterator[tuple[ProposalField, Any, Any]]:
    """(field, update, proposed value as stored) for each update the call proves (a verified quote)."""
    for field in ProposalField:
        update: Any = getattr(updates, field.value)
        if update is None or not any(evidence.verified for evidence in update.evidence):
            continue
        value = _stored_value(field, update)
        if value is not None:
            yield field, update, value


def _stored_value(field: ProposalField, update: Any) -> Any:
    """The update's value as a proposal stores it; None for an amount the deal cannot hold."""
    match field:
        case ProposalField.CLOSE_DATE:
            return update.value.isoformat()
        case ProposalField.AMOUNT:
            amount = Decimal(str(update.value)).quantize(_CENT, ROUND_HALF_UP)
            return str(amount) if 0 <= amount <= MAX_AMOUNT else None
        case ProposalField.STAGE:
            return update.value.value
        case ProposalField.FOLLOW_UP_EMAIL:
            assert isinstance(update, FollowUpEmail)
            return {"subject": update.subject, "body": update.body}
    return update.value


def _superseded(row: DealProposal, deal: Deal) -> ProposalDecision:
    """The audit of a proposal a newer call proposed again: decided by dealgraph, the deal unchanged."""
    value = proposals.deal_value(deal, ProposalField(row.field))
    return ProposalDecision(
        tenant_id=row.tenant_id,
        proposal_id=row.id,
        deal_id=row.deal_id,
        decision=ProposalStatus.SUPERSEDED.value,
        actor_id=None,
        from_value=value,
        to_value=value,
        reason="a newer call proposed this field again",
    )
