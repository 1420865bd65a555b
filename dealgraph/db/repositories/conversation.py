"""Conversation metrics rolled up over calls (a deal's, a person's), as SQL aggregates of the stored call metrics.

One set of aggregates (`_rollup`) serves reading a roll-up and ordering or filtering deals and people by one
of its figures, so what a list is ordered by is exactly what it shows. The definitions are in
`dealgraph.transcripts.metrics` ("Roll-ups"); `talk` is whose talk the roll-up is about: the seller side's on a
deal's calls, the person's own on theirs.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Float, Numeric, Row, bindparam, cast, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from dealgraph.db.models import CallMetrics, Deal, Person, Transcript, TranscriptSpeaker
from dealgraph.transcripts.metrics import ConversationFigure

_METRICS = CallMetrics.metrics
_LABEL_TALK = _METRICS["speakers"][TranscriptSpeaker.speaker]
_NO_FIGURE = literal_column("CAST(-1 AS NUMERIC)", Numeric)
"""What a deal or person without the figure sorts as: below every figure (none is negative). SQL text, not a
parameter, so compiled reads (graph_reads) render the very same key."""


def _number(json: Any, key: str) -> ColumnElement[float]:
    return cast(json[key].astext, Float)


def _ratio(part: ColumnElement[Any], whole: ColumnElement[Any]) -> ColumnElement[Any]:
    return part / func.nullif(whole, 0)


@dataclass(frozen=True, slots=True)
class _Talk:
    """Whose talk a roll-up is about, on one call (NULL where they did not speak): the call's metrics and the
    parts of that talk (`dealgraph.transcripts.metrics.Talk`)."""

    metrics: Any
    """The call's stored metrics (JSONB)."""
    speaking_seconds: ColumnElement[Any]
    longest_turn_seconds: ColumnElement[Any]
    words: ColumnElement[Any]
    questions: ColumnElement[Any]
    fillers: ColumnElement[Any]


_PARTS = ("speaking_seconds", "longest_turn_seconds", "words", "questions", "fillers")
_SELLER_TALK = _Talk(_METRICS, *(_number(_METRICS[("sides", "seller")], part) for part in _PARTS))
_PERSON_CALLS = (
    select(
        TranscriptSpeaker.person_id,
        CallMetrics.transcript_id,
        CallMetrics.metrics,
        *(
            (func.max if part == "longest_turn_seconds" else func.sum)(_number(_LABEL_TALK, part)).label(part)
            for part in _PARTS
        ),
    )
    .join(CallMetrics, CallMetrics.transcript_id == TranscriptSpeaker.transcript_id)
    .group_by(TranscriptSpeaker.person_id, CallMetrics.transcript_id)
    .subquery("person_calls")
)
"""Each person's talk on each call they spoke on, over all their speaker labels there (a person may speak as
"Jane" and "Jane Doe (Acme)" on one call): one row a call, so a roll-up counts every call once."""
_PERSON_TALK = _Talk(_PERSON_CALLS.c.metrics, *(_PERSON_CALLS.c[part] for part in _PARTS))


def _rollup(talk: _Talk) -> dict[str, ColumnElement[Any]]:
    metrics = talk.metrics
    duration = _number(metrics, "duration_seconds")
    spoke = talk.speaking_seconds.is_not(None)
    everyone = sum(
        (func.coalesce(_number(metrics[("sides", side)], "speaking_seconds"), 0) for side in ("buyer", "unknown")),
        func.coalesce(_number(metrics[("sides", "seller")], "speaking_seconds"), 0),
    )
    interactivity = _number(metrics, "interactivity")
    patience = _number(metrics, "patience_mean_seconds")
    pauses = _number(metrics, "patience_pauses")
    return {
        "calls": func.count(),
        "exact": func.bool_and(metrics["timing"].astext == "exact"),
        "duration_seconds": func.coalesce(func.sum(duration), 0),
        "talk_ratio": _ratio(func.sum(talk.speaking_seconds), func.sum(everyone).filter(spoke)),
        "longest_monologue_seconds": func.max(talk.longest_turn_seconds),
        "longest_customer_story_seconds": func.max(_number(metrics, "longest_customer_story_seconds")),
        "interactivity": _ratio(
            func.sum(interactivity * duration), func.sum(duration).filter(interactivity.is_not(None))
        ),
        "patience_mean_seconds": _ratio(func.sum(patience * pauses), func.sum(pauses).filter(patience.is_not(None))),
        "question_rate": _ratio(func.sum(talk.questions), func.sum(duration).filter(spoke) / 3600),
        "words_per_minute": _ratio(func.sum(talk.words), func.sum(talk.speaking_seconds) / 60),
        "filler_rate": _ratio(func.sum(talk.fillers), func.sum(talk.speaking_seconds) / 60),
    }


_DEAL_ROLLUP = _rollup(_SELLER_TALK)
_PERSON_ROLLUP = _rollup(_PERSON_TALK)
"""Built once: building a roll-up's expressions costs milliseconds of CPU, more than the database takes to
answer it, so the statements below are built at import and reused (SQLAlchemy caches their compiled form)."""
_DEAL_CALLS = select().select_from(CallMetrics).join(Transcript, Transcript.id == CallMetrics.transcript_id)
_OF_DEALS = (
    _DEAL_CALLS.add_columns(
        Transcript.deal_id,
        *(column.label(name) for name, column in _DEAL_ROLLUP.items()),
        func.jsonb_object_agg(Transcript.id, _METRICS).label("calls_metrics"),
    )
    .where(Transcript.deal_id.in_(bindparam("deal_ids", expanding=True)))
    .group_by(Transcript.deal_id)
)
_OF_PEOPLE = (
    select(_PERSON_CALLS.c.person_id, *(column.label(name) for name, column in _PERSON_ROLLUP.items()))
    .where(_PERSON_CALLS.c.person_id.in_(bindparam("person_ids", expanding=True)))
    .group_by(_PERSON_CALLS.c.person_id)
)


async def of_deals(session: AsyncSession, deal_ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    """Per deal with metrics on any call: its roll-up's columns, and `calls_metrics`, {transcript id: metrics}
    of each of its calls (what the deal page shows per call, read in the same statement)."""
    return (await session.execute(_OF_DEALS, {"deal_ids": list(deal_ids)})).all()


async def of_people(
    session: AsyncSession, person_ids: Sequence[uuid.UUID], start: datetime | None, end: datetime | None
) -> Sequence[Row[Any]]:
    """Per person with metrics on any call they spoke on in [start, end): `person_id` and the roll-up's columns."""
    query = _OF_PEOPLE
    if start is not None or end is not None:
        query = query.join(Transcript, Transcript.id == _PERSON_CALLS.c.transcript_id)
    if start is not None:
        query = query.where(Transcript.occurred_at >= start)
    if end is not None:
        query = query.where(Transcript.occurred_at < end)
    return (await session.execute(query, {"person_ids": list(person_ids)})).all()


@cache
def deal_figure(figure: ConversationFigure) -> ColumnElement[Any]:
    """A deal's figure over its calls; NULL where it has none."""
    of_deal = _DEAL_CALLS.add_columns(_DEAL_ROLLUP[figure.value]).where(Transcript.deal_id == Deal.id)
    return cast(of_deal.scalar_subquery(), Numeric)


@cache
def person_figure(figure: ConversationFigure) -> ColumnElement[Any]:
    """A person's figure over all their calls; NULL where they have none."""
    of_person = select(_PERSON_ROLLUP[figure.value]).where(_PERSON_CALLS.c.person_id == Person.id)
    return cast(of_person.scalar_subquery(), Numeric)


def sort_key(figure: ColumnElement[Any]) -> ColumnElement[Any]:
    """A figure as a keyset sort key, which must not be NULL: -1 where there is none (below every figure)."""
    return cast(func.coalesce(figure, _NO_FIGURE), Numeric)


@dataclass(frozen=True, slots=True)
class FigureRange:
    """Rows whose figure is at least `at_least` and at most `at_most`, where given."""

    figure: ConversationFigure
    at_least: float | None = None
    at_most: float | None = None

    def conditions(self, value: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        """A row without the figure is never in range."""
        conditions: list[ColumnElement[bool]] = [value.is_not(None)]
        if self.at_least is not None:
            conditions.append(value >= self.at_least)
        if self.at_most is not None:
            conditions.append(value <= self.at_most)
        return conditions
