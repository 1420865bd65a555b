"""Pieces shared by every agent's output model, plus generic evidence verification.

Class docstrings, enum docstrings and `Field` descriptions become the JSON schema of the agent's
structured output (`output_config.format`), which Claude reads, so they are written to the model.
Anything the model must not fill is hidden from that schema with `SkipJsonSchema` and set by the
server once the answer has arrived (evidence verification, talk time).
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Annotated, TypeVar

from pydantic import BaseModel, Field
from pydantic.json_schema import SkipJsonSchema

from dealgraph.agents.evidence import EvidenceLocator, EvidenceMatch

OutputT = TypeVar("OutputT", bound=BaseModel)
_V = TypeVar("_V")

Confidence = Annotated[
    float,
    Field(
        ge=0,
        le=1,
        description=(
            "How well the transcript supports this, from 0 to 1. 0.9 or higher only when a participant"
            " states it explicitly; 0.6-0.85 when it is clearly implied; 0.3-0.6 when inferred from"
            " indirect signals. Below 0.3, leave the item out instead."
        ),
    ),
]


class Sentiment(enum.StrEnum):
    """positive, neutral, negative, or mixed (clear positive and clear negative signals together)."""

    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"
    MIXED = "mixed"


class Evidence(BaseModel):
    """A verbatim transcript quote proving the claim it is attached to."""

    quote: str = Field(
        min_length=1,
        description=(
            "Words copied exactly, character for character, from the text of one transcript line (after"
            " 'Speaker:'). Use a full sentence or the shortest span that proves the point. Never"
            " paraphrase, correct, translate, join separate lines, or add ellipses; leave out the"
            " '[n mm:ss]' prefix and the speaker label."
        ),
    )
    utterance_index: int | None = Field(
        ge=0,
        description="The n from the '[n mm:ss]' prefix of the line the quote comes from.",
    )
    verified: SkipJsonSchema[bool] = Field(
        default=False, description="Whether the quote was found in the transcript; set by the server."
    )
    match_score: SkipJsonSchema[float] = Field(
        default=0.0, description="Similarity of the quote to the transcript text it was matched with (0-1)."
    )
    speaker: SkipJsonSchema[str | None] = Field(default=None, description="Who said the matched text.")
    start: SkipJsonSchema[float | None] = Field(
        default=None, description="Seconds into the call where the matched text starts, when known."
    )
    end: SkipJsonSchema[float | None] = Field(
        default=None, description="Seconds into the call where the matched text ends, when known."
    )


SupportingEvidence = Annotated[
    list[Evidence],
    Field(
        min_length=1,
        description="One to three quotes that prove this item on their own; if you cannot quote it, omit the item.",
    ),
]


def verify_evidence(output: OutputT, locator: EvidenceLocator) -> OutputT:
    """A copy of `output` with every Evidence checked against the transcript, at any nesting depth.

    The model's `utterance_index` is only a search hint: it is replaced by where the quote was
    actually found (None when it was not), so a wrong index never sends a user to the wrong turn.
    Values the model may have sent for the hidden fields are overwritten too. Only the models and
    lists on the way to an Evidence are copied (shallowly); a deep copy of the whole answer cost
    more than verifying its quotes.
    """
    return _verified(output, locator)


def _verified(value: _V, locator: EvidenceLocator) -> _V:
    """`value` with its Evidence verified: a new model or list wherever one may hold Evidence (see `_walk`)."""
    if isinstance(value, Evidence):
        match = locator.locate(value.quote, hint_index=value.utterance_index)
        return value.model_copy(update=_hidden_fields(match))
    if isinstance(value, BaseModel):
        return value.model_copy(
            update={name: _verified(getattr(value, name), locator) for name in type(value).model_fields}
        )
    if isinstance(value, list):
        return [_verified(item, locator) for item in value]  # type: ignore[return-value]
    return value


def count_evidence(output: BaseModel) -> tuple[int, int]:
    """(verified, total) quotes, e.g. to flag an analysis whose claims mostly failed verification."""
    found = list(_walk(output))
    return sum(evidence.verified for evidence in found), len(found)


def _walk(value: object) -> Iterator[Evidence]:
    """Output models nest only models and lists, so those are the only containers to descend into."""
    if isinstance(value, Evidence):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _walk(getattr(value, name))
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)


def _hidden_fields(match: EvidenceMatch) -> dict[str, object]:
    return {
        "verified": match.verified,
        "match_score": match.score,
        "utterance_index": match.utterance_index,
        "speaker": match.speaker,
        "start": match.start,
        "end": match.end,
    }
