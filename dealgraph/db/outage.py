"""Telling "the database could not be reached" from "the statement was wrong".

Code that can usefully wait out a short outage (writing a paid-for result, keeping a lease) retries
the former and lets the latter fail at once; a request answers SERVICE_UNAVAILABLE (retry later) for it,
never INTERNAL_SERVER_ERROR. Errors come raw from asyncpg (the job pools' autocommit connections, the
read pool) or wrapped by SQLAlchemy; both are recognised.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from sqlalchemy.exc import DBAPIError, EmulatedDBAPIException, InterfaceError

# SQLSTATE classes of an unreachable database: connection exception, insufficient resources (too many
# connections), operator intervention (shutdown, cannot connect now, terminated by an administrator);
# and "database not accepting connections".
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")
_NOT_ACCEPTING_CONNECTIONS = "55000"
_QUERY_CANCELED = "57014"
"""Class 57 but the statement's own fault (statement_timeout, a cancel request): not an outage."""

_LOST_CONNECTION = (asyncpg.InterfaceError, asyncpg.InternalClientError)
"""asyncpg on a connection the server ended: "connection is closed", or, when a statement is sent after the
server's FATAL message arrived but before the socket's end did, "cannot switch to state N; another operation
(2) is in progress" (the protocol still waits for the failed operation's end, which never comes)."""


def is_outage(error: BaseException) -> bool:
    """True for errors that say the database could not be reached, not that the statement was wrong."""
    if isinstance(error, (OSError, *_LOST_CONNECTION)):  # e.g. connection refused while the server restarts
        return True
    if isinstance(error, DBAPIError):
        if error.connection_invalidated or isinstance(error, InterfaceError):
            return True
        return error.orig is not None and is_outage(error.orig)
    if isinstance(error, EmulatedDBAPIException) and error.orig is not None:  # SQLAlchemy's wrapper of asyncpg's
        return is_outage(error.orig)
    sqlstate = getattr(error, "sqlstate", None) if isinstance(error, asyncpg.PostgresError) else None
    if not sqlstate or sqlstate == _QUERY_CANCELED:
        return False
    return sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES or sqlstate == _NOT_ACCEPTING_CONNECTIONS


T = TypeVar("T")

BLIP_RETRIES_S = (0.1, 0.5, 2.0)
"""Waits between attempts of work that rides out a blip (a terminated connection, a failover's seconds)."""


async def through_blips(work: Callable[[], Awaitable[T]], delays: tuple[float, ...] = BLIP_RETRIES_S) -> T:
    """`work`, tried again after each of `delays` while it fails for a lost connection; for work that may run twice
    (a read, or a write that is idempotent)."""
    for delay in delays:
        try:
            return await work()
        except Exception as error:
            if not is_outage(error):
                raise
        await asyncio.sleep(delay)
    return await work()


def log_failure(log: logging.Logger, error: Exception, what: str) -> None:
    """For work that never fails its caller: a lost database connection is expected now and then (failover, idle
    kill) and is a warning, not a traceback; anything else is an error with one."""
    if is_outage(error):
        log.warning("%s failed (database unreachable: %s)", what, error)
    else:
        log.error("%s failed", what, exc_info=error)
