"""searchTranscripts in every mode: KEYWORD alone (`keyword.py`), SEMANTIC, and HYBRID (both rankings fused).

Both rankings are cut at a candidate depth (enough for the requested page, at least 50, at most 500),
fused with reciprocal rank fusion, and paged with offset cursors like keyword search. Semantic matches
less similar than the relevance floor do not count: SEMANTIC does not return them, and in HYBRID they
add nothing to a hit's score (a hit only they found is gone). `totalCount` is the number of fused
candidates, not every utterance with some similarity (that would be all of them).
"""

from __future__ import annotations

import asyncio
import uuid

from dealgraph.db.repositories import search_jobs, vectors
from dealgraph.db.repositories.search import keyword_ranking, utterances_at
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput
from dealgraph.search.embedders import EmbedderName, get_embedder
from dealgraph.search.fusion import reciprocal_rank_fusion
from dealgraph.search.hits import SearchRow, relevance, results_page
from dealgraph.search.keyword import keyword_page
from dealgraph.search.request import Search, SearchMode
from dealgraph.services.pagination import Page, PageRequest, offset_after

MIN_CANDIDATES, MAX_CANDIDATES = 50, 500
PGVECTOR_REQUIRED = (
    "Semantic and hybrid search need the pgvector extension on the PostgreSQL server, which this server does not have; "
    "use mode: KEYWORD."
)


async def search(scope: TenantScope, search: Search, request: PageRequest) -> Page[SearchRow]:
    """The page `request` asks for; no mode means HYBRID where the server stores vectors, KEYWORD where it cannot."""
    offset = offset_after(request.after, "search")
    mode = search.mode
    if mode is None:
        mode = SearchMode.HYBRID if await vectors.vectors_available(scope.database) else SearchMode.KEYWORD
    if mode is SearchMode.KEYWORD:
        return await keyword_page(scope, search, offset, request.first)
    if not await vectors.vectors_available(scope.database):  # asked once per Database, then remembered
        raise BadUserInput(PGVECTOR_REQUIRED)
    return await _fused_page(scope, search, mode, offset, request.first)


async def _fused_page(scope: TenantScope, search: Search, mode: SearchMode, offset: int, first: int) -> Page[SearchRow]:
    embedder = get_embedder(search.model)
    depth = min(MAX_CANDIDATES, max(MIN_CANDIDATES, offset + first + 1))
    query_vector = (await asyncio.to_thread(embedder.embed, [search.text]))[0]
    async with scope.session() as session:
        neighbours = await vectors.nearest(
            session, query_vector, embedder.model_id, depth, search.filters, search.relevance_floor
        )
        similarity = {(n.transcript_id, n.position): n.similarity for n in neighbours}
        keyword_rank = (
            dict(await keyword_ranking(session, search.text, search.filters, depth))
            if mode is SearchMode.HYBRID
            else {}
        )
        fused = reciprocal_rank_fusion({"keyword": list(keyword_rank), "semantic": list(similarity)})
        page = fused[offset : offset + first]
        rows = await utterances_at(session, search.text, [f.key for f in page])
    hits = []
    for f in page:
        if f.key not in rows:  # a transcript deleted between the two reads drops out
            continue
        transcript, utterance, snippet = rows[f.key]
        cosine = similarity.get(f.key)
        how_relevant = relevance(cosine, keyword_rank.get(f.key))
        hits.append(SearchRow(transcript, utterance, f.score, snippet, how_relevant, tuple(f.signals), cosine))

    async def count() -> int:
        return len(fused)

    return results_page(hits, offset, len(fused) > offset + first, count)


async def search_status(scope: TenantScope, transcript_id: uuid.UUID, model: EmbedderName) -> str:
    """PENDING until the embedding pool has embedded the transcript with the configured model; UNAVAILABLE without pgvector."""
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
