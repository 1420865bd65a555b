"""The embedding worker: claims transcripts from the queue, embeds their windows, stores the vectors.

Runs inside `serve` beside the analysis engine (or in any number of processes: claims never collide).
Embedding is CPU work, so it runs in a thread and the event loop keeps serving requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.repositories import search_jobs, transcripts, vectors
from dealgraph.db.session import Database
from dealgraph.search.embedders import Embedder, get_embedder
from dealgraph.search.windows import Spoken, windows

log = logging.getLogger(__name__)


class _LeaseLost(Exception):
    pass


class EmbeddingWorker:
    def __init__(self, database: Database, settings: Settings, embedder: Embedder | None = None) -> None:
        self.database = database
        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embedding_model)
        self.worker_id = new_claimer_id()

    async def run_once(self) -> bool:
        """Embed one claimed transcript; False when the queue had nothing claimable."""
        async with self.database.owner_session() as session:
            job = await search_jobs.claim(
                session,
                worker_id=self.worker_id,
                lease_s=self.settings.embedding_lease_s,
                max_attempts=self.settings.embedding_max_attempts,
            )
        if job is None:
            return False
        try:
            async with self.database.tenant_session(job.tenant_id) as session:
                rows = await transcripts.utterances(session, job.transcript_id)
                spoken = [Spoken(r.position, r.speaker, r.start_seconds, r.text) for r in rows]
            batch = windows(spoken, self.settings.embedding_neighbours)
            matrix = await asyncio.to_thread(self.embedder.embed, [w.text for w in batch])
            async with self.database.tenant_session(job.tenant_id) as session:
                await vectors.replace_windows(
                    session, job.tenant_id, job.transcript_id, self.embedder.model_id, batch, matrix
                )
                if not await search_jobs.finish(session, job, self.worker_id, self.embedder.model_id):
                    raise _LeaseLost  # rolls the windows back: the worker that took over writes its own
        except _LeaseLost:
            log.warning("embedding job for transcript %s was taken over; result discarded", job.transcript_id)
        except Exception as error:  # one bad transcript must not stop the queue: retried, then marked failed
            log.exception("embedding transcript %s failed (attempt %d)", job.transcript_id, job.attempts)
            async with self.database.tenant_session(job.tenant_id) as session:
                await search_jobs.give_back(
                    session, job, self.worker_id, str(error), self.settings.embedding_max_attempts
                )
        return True

    async def run(self) -> None:
        while True:
            try:
                while await self.run_once():
                    pass
            except Exception:  # the database may be briefly away: keep polling
                log.exception("embedding worker poll failed")
            await asyncio.sleep(self.settings.embedding_poll_s)


@asynccontextmanager
async def embedding_worker(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Run the worker for the app's lifetime where vectors are stored; say so once where they cannot be."""
    if not await vectors.vectors_available(database):
        log.warning("semantic and hybrid search are off: they need the pgvector extension on the PostgreSQL server")
        yield
        return
    if not settings.embedding_pool:
        yield
        return
    task = asyncio.create_task(EmbeddingWorker(database, settings).run(), name="embedding-worker")
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
