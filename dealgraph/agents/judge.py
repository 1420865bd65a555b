"""The pairwise judge: a model that reads two answers of one agent on one call and says which is better.

It is not an agent (no analysis runs it, it answers about answers), but its prompt is a template like theirs,
stored under the reserved name `PAIRWISE_JUDGE`, versioned and labelled the same way, with the built-in
default in `instructions/pairwise_judge.md`. An experiment with `pairwise` on sends it once per call and agent.

The judge sees the two answers as "A" and "B", never as baseline and candidate: a name would tell it which
one is new, and models favour one side for its name as they do for its position. The experiment alternates
which of the two it shows first and maps A and B back to the sides when it reads the verdict.
"""

from __future__ import annotations

import enum
from functools import cache
from typing import Any

from pydantic import BaseModel, Field

from dealgraph.agents.outputs.common import Evidence
from dealgraph.agents.structured import answer_schema, answer_schema_source

PAIRWISE_JUDGE = "pairwise_judge"
"""The judge's template name (in the column agents' templates keep their agent's key) and its schema's title."""


class PairwiseChoice(enum.StrEnum):
    """A: the first answer shown; B: the second; TIE: neither is better for someone acting on the call."""

    A = "A"
    B = "B"
    TIE = "TIE"


class PairwiseJudgeOutput(BaseModel):
    """Which of the two answers serves a sales team acting on this call better, and why."""

    winner: PairwiseChoice = Field(
        description="A or B, the better answer; TIE only when neither is better in a way that matters."
    )
    reason: str = Field(
        min_length=1,
        max_length=600,
        description="One or two sentences naming what decided it, e.g. a status the call does not support.",
    )
    confidence: float = Field(
        ge=0,
        le=1,
        description="How sure you are, from 0 to 1: 0.9 or higher only when one answer is plainly wrong.",
    )
    evidence: list[Evidence] = Field(
        min_length=1,
        max_length=3,
        description="One to three transcript quotes the verdict rests on: what one answer got right and the other"
        " missed or got wrong.",
    )


_JUDGE_DESCRIPTION = "Judge which of two answers to the same task on this call is better."


@cache
def judge_schema() -> dict[str, Any]:
    """As an agent's (`AgentDefinition.output_schema`), titled with the judge's name."""
    return answer_schema(PairwiseJudgeOutput, title=PAIRWISE_JUDGE, description=_JUDGE_DESCRIPTION)


def judge_schema_source() -> dict[str, Any]:
    """What `judge_schema` is computed from (`answer_schema_source`)."""
    return answer_schema_source(PairwiseJudgeOutput, title=PAIRWISE_JUDGE, description=_JUDGE_DESCRIPTION)
