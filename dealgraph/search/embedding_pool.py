"""The embedding pool: the job pool that claims transcripts from the queue, embeds their windows, stores the vectors.

Runs inside `serve` beside the analysis pool (or in any number of processes: claims never collide), and
follows the durable-job pattern (`dealgraph.db.jobs`): a lease renewed while it works, writes fenced on
its claimer id, failed attempts retried then failed, jobs handed back on shutdown. Embedding is CPU
work, so it runs in a thread and the event loop keeps serving requests meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dealgraph.config import Settings
from dealgraph.db.claimers import new_claimer_id
from dealgraph.db.jobs import JobLease, poll_queue
from dealgraph.db.repositories import search_jobs, transcripts, vectors
from dealgraph.db.session import Database
from dealgraph.observability import metrics
from dealgraph.search.embedders import Embedder, get_embedder
from dealgraph.search.windows import Spoken, windows
from dealgraph.stopping import finish_within

log = logging.getLogger(__name__)


class _LeaseLost(Exception):
    pass


class EmbeddingPool:
    def __init__(self, database: Database, settings: Settings, embedder: Embedder | None = None) -> None:
        self.database = database
        self.settings = settings
        self.embedder = embedder or get_embedder(settings.embedding_model)
        self.claimer_id = new_claimer_id()

    async def run_once(self) -> bool:
        """Embed one claimed transcript; False when the queue had nothing claimable."""
        claimed_at = asyncio.get_running_loop().time()
        async with self.database.autocommit() as connection:
            job = await search_jobs.claim(
                connection,
                claimer_id=self.claimer_id,
                lease_s=self.settings.embedding_lease_s,
                max_attempts=self.settings.embedding_max_attempts,
            )
        if job is None:
            return False
        lease = JobLease(
            self.database,
            search_jobs.EMBEDDING_QUEUE,
            job.transcript_id,
            self.claimer_id,
            self.settings.embedding_lease_s,
            claimed_at,
        )
        # The thread cannot be stopped: a job lost meanwhile is embedded to the end, and its write refused.
        keeper = asyncio.create_task(lease.keep(on_lost=lambda: None), name=f"embedding-lease-{job.transcript_id}")
        started = time.perf_counter()
        try:
            await self._embed(job)
            metrics.record_embedding_job("done", started)
        except _LeaseLost:
            metrics.record_embedding_job("taken_over", started)
            log.warning("embedding job for transcript %s was taken over; result discarded", job.transcript_id)
        except Exception as error:  # one bad transcript must not stop the queue: retried, then marked failed
            metrics.record_embedding_job("failed", started)
            log.exception("embedding transcript %s failed (attempt %d)", job.transcript_id, job.attempts)
            async with self.database.autocommit() as connection:
                await search_jobs.give_back(
                    connection, job, self.claimer_id, str(error), self.settings.embedding_max_attempts
                )
        finally:
            keeper.cancel()
        return True

    async def _embed(self, job: search_jobs.ClaimedJob) -> None:
        async with self.database.tenant_session(job.tenant_id) as session:
            rows = await transcripts.utterances(session, job.transcript_id)
            spoken = [Spoken(r.position, r.speaker, r.start_seconds, r.text) for r in rows]
        batch = windows(spoken, self.settings.embedding_neighbours)
        matrix = await asyncio.to_thread(self.embedder.embed, [w.text for w in batch])
        async with self.database.tenant_session(job.tenant_id) as session:
            await vectors.replace_windows(
                session, job.tenant_id, job.transcript_id, self.embedder.model_id, batch, matrix
            )
            if not await search_jobs.finish(session, job, self.claimer_id, self.embedder.model_id):
                raise _LeaseLost  # rolls the windows back: the pool that took over writes its own

    async def sweep(self) -> int:
        """Fail the jobs whose pool died on their last attempt; how many."""
        async with self.database.autocommit() as connection:
            return await search_jobs.fail_exhausted(connection, self.settings.embedding_max_attempts)

    async def run(self) -> None:
        """Embed until cancelled, then hand the job in hand back to the queue."""
        await poll_queue(
            self.database,
            search_jobs.EMBEDDING_QUEUE,
            self.claimer_id,
            chores=self.sweep,
            run_once=self.run_once,
            poll_s=self.settings.embedding_poll_s,
            name="embedding pool",
            pool_log=log,
        )


@asynccontextmanager
async def embedding_pool(database: Database, settings: Settings) -> AsyncIterator[None]:
    """Run the pool for the app's lifetime where vectors are stored; say so once where they cannot be."""
    if not await vectors.vectors_available(database):
        log.warning("semantic and hybrid search are off: they need the pgvector extension on the PostgreSQL server")
        yield
        return
    if not settings.embedding_pool:
        yield
        return
    task = asyncio.create_task(EmbeddingPool(database, settings).run(), name="embedding-pool")
    try:
        yield
    finally:
        task.cancel()
        await finish_within(
            "the embedding pool", asyncio.gather(task, return_exceptions=True), settings.shutdown_timeout_s
        )
