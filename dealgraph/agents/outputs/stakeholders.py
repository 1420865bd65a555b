"""Stakeholder map: who is involved in the decision, on which side, and how they lean."""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field

from dealgraph.agents.outputs.common import Confidence, Sentiment, SupportingEvidence


class CompanySide(enum.StrEnum):
    """buyer: works for the prospective customer; seller: works for the vendor selling; partner: reseller,
    integrator or consultant; unknown: not clear from the call."""

    BUYER = "buyer"
    SELLER = "seller"
    PARTNER = "partner"
    UNKNOWN = "unknown"


class CommitteeRole(enum.StrEnum):
    """economic_buyer: final budget authority; champion: actively advocates the purchase internally;
    influencer: shapes requirements or the decision without final say; blocker: opposes or slows the
    purchase; user: will use the product day to day; unknown: role not shown, and always for seller staff."""

    ECONOMIC_BUYER = "economic_buyer"
    CHAMPION = "champion"
    INFLUENCER = "influencer"
    BLOCKER = "blocker"
    USER = "user"
    UNKNOWN = "unknown"


class Influence(enum.StrEnum):
    """high: can make or veto the decision; medium: their view carries weight; low: little say."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Stakeholder(BaseModel):
    """One person involved in the deal."""

    name: str = Field(
        description="Exactly as in the transcript: their speaker label, or the name used when someone mentions them."
    )
    title: str | None = Field(description="Job title or function as stated in the call; null if not stated.")
    company_side: CompanySide = Field(description="Which organisation they belong to.")
    committee_role: CommitteeRole = Field(description="Their role in the buying decision, as shown in this call.")
    sentiment: Sentiment = Field(description="Their attitude toward this purchase as shown in this call.")
    influence: Influence = Field(description="How much they can sway the buying decision.")
    confidence: Confidence
    evidence: SupportingEvidence


class StakeholdersOutput(BaseModel):
    """Everyone involved in the deal according to this call."""

    stakeholders: list[Stakeholder] = Field(
        description=(
            "One entry per person: every speaker, plus people named as part of the decision (e.g. a CFO who"
            " must sign off). Never list the same person twice."
        )
    )
