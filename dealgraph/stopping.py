"""Shutdown steps with a deadline: a process that is stopping stops.

A step of shutdown can wait on something that never comes: a statement queued behind a lock, a connection
whose server no longer answers, a task that does not end when cancelled. Without a deadline that holds the
process (and whatever waits for it: an orchestrator, a test run) for ever. Each step gets
DEALGRAPH_SHUTDOWN_TIMEOUT_S; a step still under way then is cancelled and left behind with a WARNING naming
it, and the shutdown goes on with the next one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from contextlib import suppress

log = logging.getLogger(__name__)


async def finish_within(step: str, work: Awaitable[object], deadline_s: float) -> None:
    """Await `work`, or give up on it after `deadline_s` (cancelled, not awaited: it may not end at all).

    Its error, if it ends with one in time, is raised as usual."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=deadline_s)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if done:
        task.result()
        return
    task.cancel()
    task.add_done_callback(_forget)
    log.warning(
        "shutdown: %s did not finish within %g s (DEALGRAPH_SHUTDOWN_TIMEOUT_S); stopping without it", step, deadline_s
    )


def _forget(task: asyncio.Future[object]) -> None:
    """An abandoned step's late error was already reported as the WARNING; asyncio would log it again at exit."""
    with suppress(asyncio.CancelledError):
        task.exception()
