"""`dealgraph reembed`: bring every transcript's vectors to the configured model.

Resumable by construction: it only queues transcripts whose stored model differs (in batches, on the
durable queue) and then works the queue; stopped half way, the next run finds the rest still queued or
stale and carries on. The embedding pools of serving processes help drain the same queue.
"""

from __future__ import annotations

from dealgraph.config import Settings
from dealgraph.db.repositories import search_jobs, vectors
from dealgraph.db.session import Database
from dealgraph.search.embedding_pool import EmbeddingPool

BATCH = 500


async def reembed(database: Database, settings: Settings) -> int:
    """Transcripts embedded by this run; raises RuntimeError where the server has no pgvector."""
    if not await vectors.vectors_available(database):
        raise RuntimeError("semantic search needs the pgvector extension on the PostgreSQL server")
    pool = EmbeddingPool(database, settings)
    async with database.owner_session() as session:
        await vectors.ensure_hnsw_index(session, pool.embedder.model_id, pool.embedder.dimensions)
    done = 0
    while True:
        async with database.owner_session() as session:
            queued = await search_jobs.requeue_stale(session, pool.embedder.model_id, BATCH)
        while await pool.run_once():
            done += 1
        if not queued:
            return done
