"""Progress of every run of a process, announced in shared transactions off the model stream's path.

A progress event is a NOTIFY only (nothing is stored), but each used to be a transaction of its own,
awaited inside the stream callback: with many runs at once, each token batch waited for a pooled
connection. Here the stream callback only records the run's latest progress; one background task
sends whatever is pending in one transaction, then the next batch, so progress costs at most one
transaction in flight per process, and a run's stream never waits on the database.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from typing import Any

from dealgraph.db.outage import is_outage
from dealgraph.db.repositories import runs
from dealgraph.db.session import Database

log = logging.getLogger(__name__)


class _Batch:
    def __init__(self) -> None:
        self.events: dict[str, dict[str, Any]] = {}
        self.sent: asyncio.Future[None] = asyncio.get_running_loop().create_future()


class ProgressPublisher:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._open: _Batch | None = None
        self._in_flight: _Batch | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def publish(self, event: dict[str, Any]) -> None:
        """Queue a run's progress; a newer event of the same run replaces one not yet sent."""
        if self._open is None:
            self._open = _Batch()
        self._open.events[event["run"]] = event
        self._wake.set()
        if self._task is None:
            self._task = asyncio.create_task(self._send_batches(), name="progress-publisher")

    async def sent(self, run_id: str) -> None:
        """Until the run's pending progress is committed, so its result never overtakes it."""
        for batch in (self._in_flight, self._open):
            if batch is not None and run_id in batch.events:
                with suppress(Exception):
                    await asyncio.shield(batch.sent)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def _send_batches(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch, self._open = self._open, None
            if batch is None:
                continue
            self._in_flight = batch
            try:
                async with self.database.owner_session() as session:
                    await runs.notify(session, batch.events.values())
            except Exception as error:  # progress is only a display: a lost batch must not fail a run
                if is_outage(error):
                    log.warning("run progress not published: the database is unavailable")
                else:
                    log.exception("publishing run progress failed")
            finally:
                self._in_flight = None
                batch.sent.set_result(None)
