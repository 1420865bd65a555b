"""searchTranscripts in KEYWORD mode: PostgreSQL full-text search over utterances, ranked by ts_rank_cd,
paged in SQL with an exact count (the other modes rank a bounded candidate list instead)."""

from __future__ import annotations

from dealgraph.db.repositories import search as search_sql
from dealgraph.db.session import TenantScope
from dealgraph.search.hits import SearchRow, relevance, results_page
from dealgraph.search.request import Search
from dealgraph.services.pagination import Page


async def keyword_page(scope: TenantScope, search: Search, offset: int, first: int) -> Page[SearchRow]:
    async with scope.session() as session:
        rows = await search_sql.keyword_hits(session, search.text, search.filters, offset=offset, limit=first + 1)

    async def count() -> int:
        async with scope.session() as session:
            return await search_sql.keyword_count(session, search.text, search.filters)

    hits = [SearchRow(t, u, float(r), s, relevance(keyword_rank=float(r))) for t, u, r, s in rows[:first]]
    return results_page(hits, offset, len(rows) > first, count)
