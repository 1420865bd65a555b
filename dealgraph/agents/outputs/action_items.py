"""Action items: commitments made on the call, each tied to who made it and the words that prove it."""

from __future__ import annotations

import enum
from datetime import date

from pydantic import BaseModel, Field

from dealgraph.agents.outputs.common import Confidence, SupportingEvidence


class Priority(enum.StrEnum):
    """high: blocks deal progress, has a near deadline, or was asked for by the buyer's decision maker;
    medium: needed to move the deal forward but not urgent; low: nice to have or administrative."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class ActionItem(BaseModel):
    """One task someone on the call committed to or was explicitly asked to do."""

    description: str = Field(
        description=(
            "The task as a specific imperative sentence: what, for whom, and any stated scope,"
            " e.g. 'Send Raj a proposal with pilot pricing for two teams'."
        )
    )
    owner: str | None = Field(
        description=(
            "Who will do it, spelled exactly like their speaker label (or as named in the call if they did"
            " not speak). Null when nobody took it on."
        )
    )
    due_date: date | None = Field(
        description=(
            "Deadline as YYYY-MM-DD, only when a specific day is stated (or follows unambiguously from a call"
            " date you were given). Null for vague timing such as 'next week' or 'soon'; never guess."
        )
    )
    priority: Priority = Field(description="Urgency for the deal.")
    confidence: Confidence
    evidence: SupportingEvidence


class ActionItemsOutput(BaseModel):
    """All action items from the call."""

    items: list[ActionItem] = Field(
        description="One entry per distinct commitment, most important first; empty if none were made."
    )
