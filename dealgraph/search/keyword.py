"""searchTranscripts in KEYWORD mode: PostgreSQL full-text search over utterances, ranked by ts_rank.

The other modes (`dealgraph.search.modes`) fuse this ranking with the semantic one, so its row type is
the one every mode returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from dealgraph.db.models import Transcript, TranscriptUtterance
from dealgraph.db.repositories import search
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput
from dealgraph.services.pagination import Page, PageRequest, encode_cursor, offset_after

MAX_SEARCH_QUERY = 500


def search_text(text: str) -> str:
    needle = text.strip()
    if not needle or len(needle) > MAX_SEARCH_QUERY:
        raise BadUserInput(f"'query' must be 1 to {MAX_SEARCH_QUERY} characters.")
    return needle


@dataclass(frozen=True, slots=True)
class SearchRow:
    transcript: Transcript
    utterance: TranscriptUtterance
    rank: float
    snippet: str
    matched_by: tuple[str, ...] = ("keyword",)
    similarity: float | None = None


async def search_transcripts(
    scope: TenantScope, text: str, request: PageRequest, filters: SearchFilters
) -> Page[SearchRow]:
    """Ranked utterance hits; offset cursors, since rank order has no stable key to resume from."""
    needle = search_text(text)
    offset = offset_after(request.after, "search")
    async with scope.session() as session:
        rows = await search.keyword_hits(session, needle, filters, offset=offset, limit=request.first + 1)

    async def count() -> int:
        async with scope.session() as session:
            return await search.keyword_count(session, needle, filters)

    kept = rows[: request.first]
    return Page(
        items=[SearchRow(t, u, float(r), s) for t, u, r, s in kept],
        cursors=[encode_cursor("search", offset + i) for i in range(len(kept))],
        has_next_page=len(rows) > request.first,
        has_previous_page=offset > 0,
        count=count,
    )
