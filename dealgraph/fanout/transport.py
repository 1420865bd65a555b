"""The fan-out transport: how a committed run event reaches every process.

The default is PostgreSQL itself: events are `pg_notify`-ed inside the writing transaction and the
process's NotificationHub LISTENs for them. A broker transport (Redis, see redis_events.py)
implements `EventTransport`: it takes a transaction's events, publishes them once it commits, and
hands every event it hears to the hub. One process has one transport, chosen by
DEALGRAPH_EVENT_TRANSPORT and activated by the analysis engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Protocol

from sqlalchemy.orm import Session


class EventTransport(Protocol):
    async def start(self, deliver: Callable[[str], None], lost: Callable[[], None]) -> None:
        """Hand every event payload heard to `deliver`; call `lost` after events may have been missed."""

    async def stop(self) -> None: ...

    def publish_after_commit(self, session: Session, payloads: Iterable[str]) -> None:
        """Publish the payloads once `session`'s transaction commits, and never if it rolls back."""

    def publish_committed(self, payloads: list[str]) -> None:
        """Publish the payloads of a change already committed (a statement that was its own transaction)."""


_active: EventTransport | None = None


def active() -> EventTransport | None:
    """The process's broker transport, or None: events then go through PostgreSQL NOTIFY."""
    return _active


def activate(transport: EventTransport | None) -> None:
    global _active
    _active = transport
