"""Transcripts and their utterances: the listing query and its sort, writes, and utterance reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Row, delete, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import Account, Deal, DealStage, Transcript, TranscriptUtterance

CallRow = Row[str, datetime, str, DealStage, Decimal | None, str, date | None, str, str | None]
"""title, occurred_at, deal_name, stage, amount, currency, close_date, account_name, domain"""

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
    """Without its original text (analyses and prompts read the utterances; reading the text raises)."""
    return await session.scalar(
        select(Transcript)
        .options(defer(Transcript.original_text, raiseload=True))
        .where(Transcript.id == transcript_id)
    )


async def with_deal_and_account(session: AsyncSession, transcript_id: uuid.UUID) -> CallRow | None:
    """What a prompt says about the call, in one read: the transcript's title and date, its deal, its account."""
    return (
        await session.execute(
            select(
                Transcript.title,
                Transcript.occurred_at,
                Deal.name.label("deal_name"),
                Deal.stage,
                Deal.amount,
                Deal.currency,
                Deal.close_date,
                Account.name.label("account_name"),
                Account.domain,
            )
            .join(Deal, Deal.id == Transcript.deal_id)
            .join(Account, Account.id == Deal.account_id)
            .where(Transcript.id == transcript_id)
        )
    ).one_or_none()


async def utterances(
    session: AsyncSession, transcript_id: uuid.UUID
) -> Sequence[Row[int, str, float | None, float | None, str]]:
    """The transcript's utterances in the order spoken, as plain rows (not the search vector each one carries)."""
    u = TranscriptUtterance
    return (
        await session.execute(
            select(u.position, u.speaker, u.start_seconds, u.end_seconds, u.text)
            .where(u.transcript_id == transcript_id)
            .order_by(u.position)
        )
    ).all()
