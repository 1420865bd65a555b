"""searchTranscripts in every mode: KEYWORD alone (`keyword.py`), SEMANTIC, and HYBRID (both rankings fused).

Both rankings are cut at a candidate depth (enough for the requested page, at least 50, at most 500),
fused with reciprocal rank fusion, and paged with offset cursors like keyword search. `totalCount` is
the number of fused candidates, not every utterance with some similarity (that would be all of them).
"""

from __future__ import annotations

import asyncio
import enum
import uuid

from dealgraph.db.repositories import search_jobs, vectors
from dealgraph.db.repositories.search import SearchFilters, keyword_ranking, utterances_at
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput
from dealgraph.search.embedders import EmbedderName, get_embedder
from dealgraph.search.fusion import reciprocal_rank_fusion
from dealgraph.search.keyword import SearchRow, search_text, search_transcripts
from dealgraph.services.pagination import Page, PageRequest, encode_cursor, offset_after

MIN_CANDIDATES, MAX_CANDIDATES = 50, 500
PGVECTOR_REQUIRED = (
    "Semantic and hybrid search need the pgvector extension on the PostgreSQL server, which this server does not have; "
    "use mode: KEYWORD."
)


class SearchMode(enum.Enum):
    KEYWORD = "keyword"
    SEMANTIC = "semantic"
    HYBRID = "hybrid"


async def search(
    scope: TenantScope, model: EmbedderName, text: str, mode: SearchMode, request: PageRequest, filters: SearchFilters
) -> Page[SearchRow]:
    if mode is SearchMode.KEYWORD:
        return await search_transcripts(scope, text, request, filters)
    needle = search_text(text)
    if not await vectors.vectors_available(scope.database):
        raise BadUserInput(PGVECTOR_REQUIRED)
    embedder = get_embedder(model)
    offset = offset_after(request.after, "search")
    depth = min(MAX_CANDIDATES, max(MIN_CANDIDATES, offset + request.first + 1))
    query_vector = (await asyncio.to_thread(embedder.embed, [needle]))[0]
    async with scope.session() as session:
        neighbours = await vectors.nearest(session, query_vector, embedder.model_id, depth, filters)
        rankings = {"semantic": [(n.transcript_id, n.position) for n in neighbours]}
        if mode is SearchMode.HYBRID:
            rankings = {"keyword": await keyword_ranking(session, needle, filters, depth), **rankings}
        fused = reciprocal_rank_fusion(rankings)
        page = fused[offset : offset + request.first]
        rows = await utterances_at(session, needle, [f.key for f in page])
    similarity = {(n.transcript_id, n.position): n.similarity for n in neighbours}
    items = [
        SearchRow(rows[f.key][0], rows[f.key][1], f.score, rows[f.key][2], tuple(f.signals), similarity.get(f.key))
        for f in page
        if f.key in rows  # a transcript deleted between the two reads drops out
    ]

    async def count() -> int:
        return len(fused)

    return Page(
        items=items,
        cursors=[encode_cursor("search", offset + i) for i in range(len(items))],
        has_next_page=len(fused) > offset + request.first,
        has_previous_page=offset > 0,
        count=count,
    )


async def search_with_default(
    scope: TenantScope,
    model: EmbedderName,
    text: str,
    mode: SearchMode | None,
    request: PageRequest,
    filters: SearchFilters,
) -> Page[SearchRow]:
    """The GraphQL entry: no mode means HYBRID where the server stores vectors, KEYWORD where it cannot."""
    if mode is None:
        mode = SearchMode.HYBRID if await vectors.vectors_available(scope.database) else SearchMode.KEYWORD
    return await search(scope, model, text, mode, request, filters)


async def search_status(scope: TenantScope, transcript_id: uuid.UUID, model: EmbedderName) -> str:
    """PENDING until the worker has embedded the transcript with the configured model; UNAVAILABLE without pgvector."""
    if not await vectors.vectors_available(scope.database):
        return "UNAVAILABLE"
    async with scope.session() as session:
        job = await search_jobs.status_of(session, transcript_id)
    if job is None:
        return "PENDING"
    status, embedded_with = job
    if status == "ready":
        return "READY" if embedded_with == get_embedder(model).model_id else "OUTDATED"
    return "FAILED" if status == "failed" else "PENDING"
