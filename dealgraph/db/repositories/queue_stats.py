"""How many agent runs wait to be claimed and how long the oldest has waited: read at each metrics scrape.

One statement on the claimable-runs index (`ix_agent_runs_claimable`, partial on queued and running runs), as
the owner: the queue is every tenant's.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

_QUEUE = (
    "SELECT count(*), coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8 "
    "FROM agent_runs WHERE status = 'queued'"
)


@dataclass(frozen=True, slots=True)
class QueueStats:
    queued_runs: int
    oldest_age_s: float


async def queue_stats(connection: asyncpg.Connection) -> QueueStats:
    queued, oldest = await connection.fetchrow(_QUEUE)
    return QueueStats(queued, oldest)
