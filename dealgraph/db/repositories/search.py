"""Transcript search SQL: the filters every mode applies, and the keyword (full-text) ranking.

The vector ranking is `dealgraph.db.repositories.vectors`'; fusing rankings and paging them is
`dealgraph.search`'s.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Text, cast, func, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, defer

from dealgraph.db.models import Deal, Transcript, TranscriptUtterance
from dealgraph.db.models.transcripts import SEARCH_CONFIG

_HEADLINE_OPTIONS = (
    "StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=' … '"
)


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """What sales users narrow a search by (deal, account, speaker, call date); every mode applies them."""

    deal_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    speaker: str | None = None  # exact, case-insensitive
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # exclusive

    @property
    def narrowed(self) -> bool:
        return any(
            v is not None for v in (self.deal_id, self.account_id, self.speaker, self.occurred_from, self.occurred_to)
        )

    def conditions(self, speaker: ColumnElement[str] | InstrumentedAttribute[str]) -> list[ColumnElement[bool]]:
        """The filters as conditions on `transcripts` and on `speaker`, the speaker column of what is searched
        (utterances for the keyword ranking, windows for the vector one), so every mode narrows alike."""
        conditions: list[ColumnElement[bool]] = []
        if self.deal_id is not None:
            conditions.append(Transcript.deal_id == self.deal_id)
        if self.account_id is not None:
            conditions.append(Transcript.deal_id.in_(select(Deal.id).where(Deal.account_id == self.account_id)))
        if self.speaker is not None:
            conditions.append(func.lower(speaker) == self.speaker.strip().lower())
        if self.occurred_from is not None:
            conditions.append(Transcript.occurred_at >= self.occurred_from)
        if self.occurred_to is not None:
            conditions.append(Transcript.occurred_at < self.occurred_to)
        return conditions


def tsquery_of(needle: str, any_word: bool = False) -> Any:
    """Web-search syntax (every word must match), or, for hybrid ranking, any of the words: a question
    in a manager's words rarely shares all its words with the utterance that answers it."""
    config: Any = literal_column(f"'{SEARCH_CONFIG}'::regconfig")
    if any_word:
        return cast(func.replace(cast(func.plainto_tsquery(config, needle), Text), "&", "|"), TSQUERY)
    return func.websearch_to_tsquery(config, needle)


def headline(needle: str, any_word: bool = False) -> Any:
    """The utterance with matched words in <mark> tags (its opening words when nothing matched)."""
    return func.ts_headline(
        literal_column(f"'{SEARCH_CONFIG}'::regconfig"),
        TranscriptUtterance.text,
        tsquery_of(needle, any_word),
        _HEADLINE_OPTIONS,
    )


def _keyword_query(needle: str, filters: SearchFilters, any_word: bool = False) -> tuple[Select[Any], Any]:
    """Utterances matching `needle` with their full-text rank and snippet, unordered; and the rank."""
    tsquery = tsquery_of(needle, any_word)
    rank = func.ts_rank_cd(TranscriptUtterance.search_vector, tsquery)
    query = (
        select(Transcript, TranscriptUtterance, rank, headline(needle, any_word))
        .join(TranscriptUtterance, TranscriptUtterance.transcript_id == Transcript.id)
        .where(TranscriptUtterance.search_vector.op("@@")(tsquery))
        .options(defer(Transcript.original_text))
    )
    return query.where(*filters.conditions(TranscriptUtterance.speaker)), rank


def _by_rank(rank: Any) -> tuple[Any, ...]:
    """Best first; ties by the most recent call, then in the order spoken (a stable order to page by offset)."""
    return rank.desc(), Transcript.occurred_at.desc(), TranscriptUtterance.transcript_id, TranscriptUtterance.position


async def keyword_hits(
    session: AsyncSession, needle: str, filters: SearchFilters, *, offset: int, limit: int
) -> Sequence[Any]:
    """(transcript, utterance, rank, snippet) of the matches, best first."""
    query, rank = _keyword_query(needle, filters)
    return (await session.execute(query.order_by(*_by_rank(rank)).offset(offset).limit(limit))).all()


async def keyword_count(session: AsyncSession, needle: str, filters: SearchFilters) -> int:
    query, _ = _keyword_query(needle, filters)
    return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def keyword_ranking(
    session: AsyncSession, needle: str, filters: SearchFilters, depth: int
) -> list[tuple[tuple[uuid.UUID, int], float]]:
    """((transcript id, position), full-text rank) of the best `depth` utterances matching any word of `needle`."""
    matches, rank = _keyword_query(needle, filters, any_word=True)
    ranked = matches.with_only_columns(TranscriptUtterance.transcript_id, TranscriptUtterance.position, rank).order_by(
        *_by_rank(rank)
    )
    return [
        ((transcript_id, position), float(r))
        for transcript_id, position, r in await session.execute(ranked.limit(depth))
    ]


async def utterances_at(
    session: AsyncSession, needle: str, keys: Sequence[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], tuple[Transcript, TranscriptUtterance, str]]:
    """The utterances at (transcript id, position) `keys` with their transcript and a snippet for `needle`."""
    if not keys:
        return {}
    query = (
        select(Transcript, TranscriptUtterance, headline(needle, any_word=True))
        .join(TranscriptUtterance, TranscriptUtterance.transcript_id == Transcript.id)
        .where(tuple_(TranscriptUtterance.transcript_id, TranscriptUtterance.position).in_(list(keys)))
        .options(defer(Transcript.original_text))
    )
    return {(u.transcript_id, u.position): (t, u, snippet) for t, u, snippet in await session.execute(query)}
