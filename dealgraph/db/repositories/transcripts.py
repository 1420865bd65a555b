"""Transcripts and their utterances: the listing query and its sort, writes, and utterance reads."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import Row, delete, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import Transcript, TranscriptUtterance
from dealgraph.db.read_pool import ReadPool

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


async def add(session: AsyncSession, columns: dict[str, Any]) -> Transcript | None:
    """The new transcript, or None when the deal has one with this content already.

    A concurrent transaction adding the same content is waited for, then yields None too, rather than
    a unique violation (see `duplicate_of` for the one it added). The text just sent is not read back."""
    return await session.scalar(
        insert(Transcript)
        .values(columns)
        .on_conflict_do_nothing(constraint="uq_transcripts_deal_content")
        .returning(Transcript)
        .options(defer(Transcript.original_text))
    )


async def add_utterances(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """Utterances as TranscriptUtterance column values, in one statement."""
    await session.execute(insert(TranscriptUtterance), list(rows))


async def delete_transcript(session: AsyncSession, transcript_id: uuid.UUID) -> uuid.UUID | None:
    return await session.scalar(delete(Transcript).where(Transcript.id == transcript_id).returning(Transcript.id))


_CALL_FOR_PROMPT = """
    SELECT t.title, t.occurred_at, d.name, d.stage, d.amount, d.currency, d.close_date, a.name, a.domain,
           ARRAY(
               SELECT ROW(u.position, u.speaker, u.start_seconds, u.end_seconds, u.text)
               FROM transcript_utterances u WHERE u.transcript_id = t.id ORDER BY u.position
           )
    FROM transcripts t JOIN deals d ON d.id = t.deal_id JOIN accounts a ON a.id = d.account_id
    WHERE t.id = $1
    """


class CallForPrompt(NamedTuple):
    """What a prompt says about a call: the transcript's title, date and utterances, its deal, its account."""

    title: str
    occurred_at: datetime
    deal_name: str
    stage: str
    amount: Decimal | None
    currency: str
    close_date: date | None
    account_name: str
    domain: str | None
    utterances: list[tuple[int, str, float | None, float | None, str]]
    """(position, speaker, start_seconds, end_seconds, text), in the order spoken."""


async def call_for_prompt(reads: ReadPool, tenant_id: uuid.UUID, transcript_id: uuid.UUID) -> CallForPrompt | None:
    """One statement on the read pool (`dealgraph.db.read_pool`): no transaction, no ORM, the tenant's own scope.

    Read once per analysis by its runs (and by every prompt preview); the utterances come as plain tuples,
    not entities carrying the search vector each one has."""
    row = await reads.fetchrow(tenant_id, _CALL_FOR_PROMPT, [transcript_id])
    return CallForPrompt(*row) if row is not None else None


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
