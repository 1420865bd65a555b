"""The side the stakeholder agent gives a person, recorded where the seller directory left it unknown.

A successful stakeholders run names each stakeholder's `companySide`. A speaker of the analysed call named
like a stakeholder (`dealgraph.transcripts.names`) whose person has no side from a human or the directory
takes that side, as INFERRED, and the metrics of all their calls follow. Only SELLER and BUYER count (PARTNER
and UNKNOWN say nothing of the side); a person the run calls both is left as is. A later run infers again; a
human's or the directory's side is never overridden.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs.stakeholders import CompanySide, StakeholdersOutput
from dealgraph.db.outage import log_failure, through_blips
from dealgraph.db.repositories import people
from dealgraph.db.repositories.runs import ClaimedRun
from dealgraph.db.session import Database
from dealgraph.transcripts.metrics import Side
from dealgraph.transcripts.names import name_key

log = logging.getLogger(__name__)
_KNOWN = {CompanySide.SELLER: Side.SELLER, CompanySide.BUYER: Side.BUYER}


async def record_inferred_sides(database: Database, claimed: ClaimedRun, result: dict[str, Any] | None) -> None:
    """Never fails: the run's result matters more than what it lets us infer, so a failure here is logged.

    Retried through a lost connection: it is one transaction, and inferring again from the same result changes
    nothing more."""
    if claimed.agent != AgentKind.STAKEHOLDERS.value or result is None:
        return
    output = StakeholdersOutput.model_validate(result)

    async def record() -> None:
        async with database.tenant_session(claimed.tenant_id) as session:
            speakers = await people.speakers_with_people(session, claimed.transcript_id)
            sides = _sides_of(output, speakers)
            changed = await people.infer_sides(session, sides) if sides else []
            if changed:
                await people.recompute_metrics(session, await people.calls_of(session, changed))

    try:
        await through_blips(record)
    except Exception as error:
        log_failure(log, error, f"recording the sides inferred by run {claimed.id}")


def _sides_of(output: StakeholdersOutput, speakers: Sequence[Any]) -> dict[uuid.UUID, Side]:
    """Person -> the one side the run gave them (by their speaker label or their own name)."""
    said: dict[str, set[Side]] = defaultdict(set)
    for stakeholder in output.stakeholders:
        if side := _KNOWN.get(stakeholder.company_side):
            said[name_key(stakeholder.name)].add(side)
    given: dict[uuid.UUID, set[Side]] = defaultdict(set)
    for speaker, person_id, person_key, _ in speakers:
        given[person_id] |= said.get(name_key(speaker), set()) | said.get(person_key, set())
    return {person_id: sides.pop() for person_id, sides in given.items() if len(sides) == 1}
