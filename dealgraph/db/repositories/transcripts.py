"""Transcripts and their utterances: the listing query and its sort, writes, and utterance reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import Transcript, TranscriptUtterance

RECENT_FIRST = Sort(key=Transcript.occurred_at, id=Transcript.id, descending=True, name="transcript-recent")


def listing(deal_id: uuid.UUID | None) -> ListQuery:
    """Transcripts (of one deal, if given) without their original text, which only a single read needs."""
    query = select(Transcript).options(defer(Transcript.original_text))
    if deal_id is not None:
        query = query.where(Transcript.deal_id == deal_id)
    return query


async def duplicate_of(session: AsyncSession, deal_id: uuid.UUID, content_hash: str) -> uuid.UUID | None:
    """The deal's transcript with this content, if it was added already."""
    return await session.scalar(
        select(Transcript.id).where(Transcript.deal_id == deal_id, Transcript.content_hash == content_hash)
    )


async def add(session: AsyncSession, transcript: Transcript) -> None:
    """Flushed, so the transcript has its id for what is written with it."""
    session.add(transcript)
    await session.flush()


async def add_utterances(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Utterances as TranscriptUtterance column values, in one statement."""
    await session.execute(insert(TranscriptUtterance), list(rows))


async def delete_transcript(session: AsyncSession, transcript_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(delete(Transcript).where(Transcript.id == transcript_id).returning(Transcript.id))


async def get(session: AsyncSession, transcript_id: uuid.UUID) -> Transcript | None:
    return await session.get(Transcript, transcript_id)


async def utterances(session: AsyncSession, transcript_id: uuid.UUID) -> Sequence[TranscriptUtterance]:
    """The transcript's utterances in the order spoken."""
    return (
        await session.scalars(
            select(TranscriptUtterance)
            .where(TranscriptUtterance.transcript_id == transcript_id)
            .order_by(TranscriptUtterance.position)
        )
    ).all()
