"""CRM updates the call supports: new values for the deal's own fields and a follow-up email draft.

Part of the meeting-intelligence answer rather than a fifth agent: that agent already reads the whole call
for where the deal stands, so the updates cost only their own output tokens and schema, not another request
with the transcript (see docs/agents.md, "Proposed CRM updates"). Nothing here changes a deal: the server
turns each update into a proposal that a person accepts, edits or rejects.
"""

from __future__ import annotations

import enum
from datetime import date

from pydantic import BaseModel, Field

from dealgraph.agents.outputs.common import Confidence, SupportingEvidence


class SuggestedStage(enum.StrEnum):
    """The deal stages, spelled as the deal's `stage` in the prompt."""

    PROSPECTING = "prospecting"
    QUALIFICATION = "qualification"
    DISCOVERY = "discovery"
    PROPOSAL = "proposal"
    NEGOTIATION = "negotiation"
    CLOSED_WON = "closed_won"
    CLOSED_LOST = "closed_lost"


class CloseDateUpdate(BaseModel):
    """A close date the buyer stated or agreed to."""

    value: date = Field(
        description="The expected close date as YYYY-MM-DD, only when a specific date follows from the call."
    )
    confidence: Confidence
    evidence: SupportingEvidence


class AmountUpdate(BaseModel):
    """A deal value the call states."""

    value: float = Field(
        ge=0,
        description="The deal's total value as a plain number (no currency sign), in the currency the call states.",
    )
    confidence: Confidence
    evidence: SupportingEvidence


class NextStepUpdate(BaseModel):
    """The single next step that moves the deal forward."""

    value: str = Field(
        max_length=500,
        description="One sentence: what happens next, who does it, and when if stated, e.g. 'Alice sends the"
        " security questionnaire by Friday'.",
    )
    confidence: Confidence
    evidence: SupportingEvidence


class StageUpdate(BaseModel):
    """A stage the call shows the deal has reached; a suggestion for the rep, never applied by itself."""

    value: SuggestedStage = Field(description="The stage the call shows the deal has reached.")
    confidence: Confidence
    evidence: SupportingEvidence


class FollowUpEmail(BaseModel):
    """A follow-up email the rep may send to the buyer-side attendees; never sent by the server."""

    subject: str = Field(max_length=200, description="A short, specific subject line.")
    body: str = Field(
        max_length=5000,
        description="The email body in plain text, from the seller to the buyer-side attendees: thanks, what was"
        " agreed, each commitment with its owner and date, and the next meeting if one was set. Nothing the call"
        " does not show; no placeholders such as [Name].",
    )
    confidence: Confidence
    evidence: SupportingEvidence


class CrmUpdates(BaseModel):
    """Updates to the deal record that this call supports, each null when the call does not support one."""

    close_date: CloseDateUpdate | None = Field(description="Null unless the call states or agrees a close date.")
    amount: AmountUpdate | None = Field(description="Null unless the call states the deal's value.")
    next_step: NextStepUpdate | None = Field(description="Null when no next step was agreed.")
    stage: StageUpdate | None = Field(description="Null unless the call clearly shows the deal's stage.")
    follow_up_email: FollowUpEmail | None = Field(description="Null when the call had no buyer-side attendee.")
