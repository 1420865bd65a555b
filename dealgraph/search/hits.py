"""What every search mode returns: rows with a relevance in [0, 1], paged with offset cursors (rank order
has no stable key to resume from)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from dealgraph.db.models import Transcript, TranscriptUtterance
from dealgraph.services.pagination import Page, encode_cursor


@dataclass(frozen=True, slots=True)
class SearchRow:
    transcript: Transcript
    utterance: TranscriptUtterance
    rank: float
    snippet: str
    relevance: float
    matched_by: tuple[str, ...] = ("keyword",)
    similarity: float | None = None


def relevance(similarity: float | None = None, keyword_rank: float | None = None) -> float:
    """The stronger of a hit's signals, each on [0, 1]: a cosine similarity (negative ones count as 0), or a
    full-text rank scaled as rank / (rank + 1), PostgreSQL's own normalisation 32 of `ts_rank_cd`."""
    signals = [max(0.0, similarity)] if similarity is not None else []
    if keyword_rank is not None:
        signals.append(keyword_rank / (keyword_rank + 1))
    return max(signals, default=0.0)


def results_page(
    rows: list[SearchRow], offset: int, has_next_page: bool, count: Callable[[], Awaitable[int]]
) -> Page[SearchRow]:
    return Page(
        items=rows,
        cursors=[encode_cursor("search", offset + i) for i in range(len(rows))],
        has_next_page=has_next_page,
        has_previous_page=offset > 0,
        count=count,
    )
