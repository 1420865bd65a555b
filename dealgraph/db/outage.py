"""Telling "the database could not be reached" from "the statement was wrong".

Code that can usefully wait out a short outage (writing a paid-for result, keeping a lease) retries
the former and lets the latter fail at once.
"""

from __future__ import annotations

from sqlalchemy.exc import DBAPIError, InterfaceError

# SQLSTATE classes of an unreachable database: connection exception, insufficient resources (too many
# connections), operator intervention (shutdown, cannot connect now); and "database not accepting connections".
_OUTAGE_SQLSTATE_CLASSES = ("08", "53", "57")
_NOT_ACCEPTING_CONNECTIONS = "55000"


def is_outage(error: BaseException) -> bool:
    """True for errors that say the database could not be reached, not that the statement was wrong."""
    if isinstance(error, OSError):  # e.g. connection refused while the server restarts
        return True
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated or isinstance(error, InterfaceError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    return sqlstate[:2] in _OUTAGE_SQLSTATE_CLASSES or sqlstate == _NOT_ACCEPTING_CONNECTIONS
