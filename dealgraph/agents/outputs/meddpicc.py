"""MEDDPICC qualification output: every element is always assessed, so a gap is stated, never just absent."""

from __future__ import annotations

import enum

from pydantic import BaseModel, Field

from dealgraph.agents.outputs.common import Confidence, Evidence


class MeddpiccStatus(enum.StrEnum):
    """identified: discussed with concrete, first-hand detail; partial: touched on but vague, second-hand
    or incomplete; missing: not discussed in this call."""

    IDENTIFIED = "identified"
    PARTIAL = "partial"
    MISSING = "missing"


class MeddpiccElement(BaseModel):
    """What this call established about one MEDDPICC element."""

    status: MeddpiccStatus = Field(description="How fully the call covered this element.")
    summary: str = Field(
        description=(
            "One or two sentences on what the call revealed, naming who said it; when the status is"
            " partial or missing, say what is still unknown."
        )
    )
    confidence: Confidence
    evidence: list[Evidence] = Field(
        description="Quotes that support the status and summary; empty only when the status is missing."
    )


class MeddpiccOutput(BaseModel):
    """MEDDPICC assessment of the deal, based only on this call."""

    metrics: MeddpiccElement = Field(
        description="Metrics: quantified outcomes the buyer wants (cost, time, revenue, risk), with the numbers said."
    )
    economic_buyer: MeddpiccElement = Field(
        description=(
            "Economic buyer: the person with final budget authority. Identified only when named (or clearly"
            " referred to by role) together with that authority."
        )
    )
    decision_criteria: MeddpiccElement = Field(
        description="Decision criteria: the technical, business and commercial criteria options will be judged by."
    )
    decision_process: MeddpiccElement = Field(
        description="Decision process: the steps, people and timeline to a decision (evaluation, pilot, approvals)."
    )
    paper_process: MeddpiccElement = Field(
        description="Paper process: legal, procurement, security and contracting steps needed to sign, with timing."
    )
    identify_pain: MeddpiccElement = Field(
        description="Identify pain: the business problem driving the purchase and what it costs if left unsolved."
    )
    champion: MeddpiccElement = Field(
        description=(
            "Champion: a buyer-side person with influence who actively sells for us internally. Friendliness"
            " or interest alone does not make a champion."
        )
    )
    competition: MeddpiccElement = Field(
        description="Competition: other vendors, an in-house build, or doing nothing, as alternatives being weighed."
    )
    gaps: list[str] = Field(
        default_factory=list,
        description="The most important missing or weak elements, each as what is unknown and why it matters here.",
    )
    next_questions: list[str] = Field(
        default_factory=list,
        description="Questions the seller should ask next to close those gaps, worded as they would be asked.",
    )


MEDDPICC_ELEMENTS: tuple[str, ...] = tuple(
    name for name, field in MeddpiccOutput.model_fields.items() if field.annotation is MeddpiccElement
)
"""Element field names in canonical order, derived from the model so the two cannot drift apart."""
