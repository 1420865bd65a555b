"""Utterance-window vectors in pgvector: availability, writes and the nearest-neighbour ranking.

The table exists only where the server has pgvector (migration 0006), so it is reached with plain SQL and
a lightweight `table()` rather than a mapped model. Vectors travel as pgvector's text form ('[0.1,…]')
cast in SQL, which needs no driver codec. Row-level security scopes every read and write to the session's tenant.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from weakref import WeakKeyDictionary

from sqlalchemy import Float, Integer, String, Uuid, cast, column, literal, select, table, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import UserDefinedType

from dealgraph.db.models import Transcript
from dealgraph.db.repositories.search import SearchFilters
from dealgraph.db.session import Database
from dealgraph.db.vector_sql import hnsw_index_sql

if TYPE_CHECKING:
    import numpy as np


class Window(Protocol):
    """What is stored of an embedded window (`dealgraph.search.windows.Window`): where it starts, and who spoke."""

    @property
    def position(self) -> int: ...
    @property
    def speaker(self) -> str: ...
    @property
    def start(self) -> float | None: ...


class _Vector(UserDefinedType[str]):
    """pgvector's `vector(n)`, for casts only: vectors travel as text (see the module docstring)."""

    cache_ok = True

    def __init__(self, dimensions: int) -> None:
        self.dimensions = dimensions

    def get_col_spec(self, **kw: Any) -> str:
        return f"vector({self.dimensions})"


_windows = table(
    "transcript_windows",
    column("transcript_id", Uuid()),
    column("model", String()),
    column("position", Integer()),
    column("speaker", String()),
    column("embedding"),
)

_available: WeakKeyDictionary[Database, bool] = WeakKeyDictionary()


async def vectors_available(database: Database) -> bool:
    """Whether this server has pgvector and the window table (checked once per Database)."""
    if database not in _available:
        async with database.owner_session() as session:
            found = await session.scalar(text("SELECT to_regclass('transcript_windows') IS NOT NULL"))
        _available[database] = bool(found)
    return _available[database]


def vector_literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6g}" for x in vector.tolist()) + "]"


async def ensure_hnsw_index(session: AsyncSession, model: str, dimensions: int) -> None:
    await session.execute(text(hnsw_index_sql(model, dimensions)))


async def replace_windows(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    transcript_id: uuid.UUID,
    model: str,
    windows: Sequence[Window],
    vectors: np.ndarray,
) -> None:
    await session.execute(
        text("DELETE FROM transcript_windows WHERE transcript_id = :t AND model = :m"), {"t": transcript_id, "m": model}
    )
    if windows:
        await session.execute(
            text(
                "INSERT INTO transcript_windows (tenant_id, transcript_id, model, position, speaker, start_seconds, embedding) "
                "VALUES (:tenant, :t, :m, :position, :speaker, :start, CAST(:v AS vector))"
            ),
            [
                {
                    "tenant": tenant_id,
                    "t": transcript_id,
                    "m": model,
                    "position": w.position,
                    "speaker": w.speaker,
                    "start": w.start,
                    "v": vector_literal(v),
                }
                for w, v in zip(windows, vectors, strict=True)
            ],
        )


@dataclass(frozen=True, slots=True)
class Neighbour:
    transcript_id: uuid.UUID
    position: int
    similarity: float


async def nearest(
    session: AsyncSession, query: np.ndarray, model: str, limit: int, filters: SearchFilters, min_similarity: float
) -> list[Neighbour]:
    """Windows nearest to `query` by cosine, best first, none less similar than `min_similarity`.

    Across the tenant the HNSW index answers (approximate; ef_search is raised so the tenant, model and
    similarity conditions, applied after the index scan, still leave `limit` rows). With filters (a deal,
    an account, a speaker, dates) the scan is exact: an index scan filtered afterwards could return too few.
    """
    dims = int(query.shape[0])
    # The same cast as the HNSW index's expression (`dealgraph.db.vector_sql`), or the index is not used.
    distance = cast(_windows.c.embedding, _Vector(dims)).op("<=>", return_type=Float)(
        cast(literal(vector_literal(query)), _Vector(dims))
    )
    similarity = (1 - distance).label("similarity")
    ranked = select(_windows.c.transcript_id, _windows.c.position, similarity).where(
        _windows.c.model == model, distance <= 1 - min_similarity
    )
    if filters.narrowed:
        ranked = ranked.join(Transcript, Transcript.id == _windows.c.transcript_id).where(
            *filters.conditions(_windows.c.speaker)
        )
        order = distance + 0  # + 0: no index scan
    else:
        order = distance
    await session.execute(text(f"SET LOCAL hnsw.ef_search = {max(40, min(1000, 4 * limit))}"))
    rows = await session.execute(ranked.order_by(order).limit(limit))
    return [Neighbour(t, p, float(s)) for t, p, s in rows]
