"""Meeting intelligence: the call-level picture.

Talk time is measured from the transcript rather than asked of the model: it is arithmetic over
timings, which a model could only guess at.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from dealgraph.agents.outputs.common import Confidence, Sentiment, SupportingEvidence
from dealgraph.agents.outputs.crm_updates import CrmUpdates
from dealgraph.transcripts.formats import Utterance

_WORDS_PER_SECOND = 2.5
"""About 150 words per minute, a typical conversational speaking rate."""


class Severity(enum.StrEnum):
    """high: could stop the deal or delay it significantly; medium: could shrink or slow it; low: worth
    watching."""

    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class Objection(BaseModel):
    """A concern or pushback the buyer raised."""

    description: str = Field(
        description="The concern in one sentence, then how the seller responded and whether it was resolved."
    )
    confidence: Confidence
    evidence: SupportingEvidence


class CompetitorMention(BaseModel):
    """A competing vendor or alternative that came up."""

    competitor: str = Field(description="The vendor or product name as said in the call.")
    context: str = Field(
        description=(
            "How it came up: being evaluated, current incumbent, being replaced, or compared on price or features."
        )
    )
    confidence: Confidence
    evidence: SupportingEvidence


class Risk(BaseModel):
    """A threat to the deal closing on time and at the expected size."""

    description: str = Field(
        description=(
            "The risk (budget, timing, authority, competition, technical fit, legal) and what in the call shows it."
        )
    )
    severity: Severity = Field(description="How badly it could hurt the deal.")
    confidence: Confidence
    evidence: SupportingEvidence


class TalkTime(BaseModel):
    """How much one speaker talked; computed from the transcript."""

    speaker: str = Field(description="The speaker label.")
    seconds: float = Field(
        description=(
            "Seconds spoken; estimated from the word count at 150 words per minute when the transcript has no timings."
        )
    )
    share: float = Field(description="Fraction of the call's talk time (0-1); shares of all speakers sum to 1.")
    utterances: int = Field(description="Number of speaker turns.")


class MeetingOutput(BaseModel):
    """Call-level analysis of the meeting."""

    summary: str = Field(
        description=(
            "Three to five neutral sentences: why the call happened, what the buyer needs, what was agreed,"
            " and where the deal stands."
        )
    )
    key_topics: list[str] = Field(
        description="The main subjects discussed, as short noun phrases, most important first; at most eight."
    )
    objections: list[Objection] = Field(default_factory=list, description="Buyer objections; empty if none.")
    competitor_mentions: list[CompetitorMention] = Field(
        default_factory=list, description="Each competitor or alternative discussed, once; empty if none."
    )
    risks: list[Risk] = Field(default_factory=list, description="Risks to the deal, most severe first; empty if none.")
    next_steps: list[str] = Field(
        default_factory=list,
        description="Next steps the participants agreed to, one short sentence each; not your own recommendations.",
    )
    sentiment: Sentiment = Field(
        description="The buyer side's overall attitude toward the deal by the end of the call."
    )
    sentiment_confidence: Confidence
    crm_updates: CrmUpdates = Field(
        description="Updates to the deal record this call supports, compared with the deal's current values."
    )
    talk_time: SkipJsonSchema[list[TalkTime]] = Field(
        default_factory=list, description="Talk time per speaker, largest share first."
    )

    @model_validator(mode="before")
    @classmethod
    def _stored_before_crm_updates(cls, data: Any) -> Any:
        """Results stored before `crm_updates` existed read as proposing nothing. A model's answer always has the
        key: the schema requires it, and structured outputs hold the answer to the schema."""
        if isinstance(data, dict) and "crm_updates" not in data:
            return {**data, "crm_updates": dict.fromkeys(CrmUpdates.model_fields)}
        return data


def compute_talk_time(utterances: Sequence[Utterance]) -> list[TalkTime]:
    """Talk time per speaker, largest share first (ties keep first-speaker order).

    Measured durations (end - start) are used only when every utterance has both timings and they add
    up to something: mixing timed and untimed turns would undercount whoever spoke in the untimed ones.
    Otherwise (plain-text transcripts carry start times at most) word counts stand in for time, and
    `seconds` is an estimate at 150 words per minute, so shares still compare like for like.
    """
    seconds: dict[str, float] = {}
    turns: Counter[str] = Counter()
    for utterance, spoken in zip(utterances, _seconds_spoken(utterances), strict=True):
        seconds[utterance.speaker] = seconds.get(utterance.speaker, 0.0) + spoken
        turns[utterance.speaker] += 1
    total = sum(seconds.values())
    rows = [
        TalkTime(
            speaker=speaker,
            seconds=spoken,
            share=spoken / total if total else 1 / len(seconds),
            utterances=turns[speaker],
        )
        for speaker, spoken in seconds.items()
    ]
    return sorted(rows, key=lambda row: row.share, reverse=True)


def _seconds_spoken(utterances: Sequence[Utterance]) -> list[float]:
    timed = [u.end - u.start for u in utterances if u.start is not None and u.end is not None]
    if len(timed) == len(utterances) and sum(timed) > 0:
        return timed
    return [len(u.text.split()) / _WORDS_PER_SECOND for u in utterances]
