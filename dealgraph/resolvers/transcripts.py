"""Transcripts: ingest (parse, size limit, de-duplication), listing, deletion and full-text search."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, Text, cast, delete, func, insert, literal_column, select
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.orm import defer

from dealgraph.db.models import Deal, Transcript, TranscriptUtterance
from dealgraph.db.models.transcripts import SEARCH_CONFIG
from dealgraph.db.repositories import search_jobs
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput
from dealgraph.resolvers.pagination import Page, PageRequest, Sort, encode_cursor, keyset_page, offset_after
from dealgraph.search.filters import SearchFilters
from dealgraph.resolvers.validation import Checker, ErrorCode, FieldError, InvalidInput
from dealgraph.transcripts.formats import TranscriptParseError, TranscriptTooLarge, parse_transcript

RECENT_FIRST = Sort(key=Transcript.occurred_at, id=Transcript.id, descending=True, name="transcript-recent")
MAX_SEARCH_QUERY = 500
_LANGUAGE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,4})?")  # 'en', 'pt-BR': fits the 8-character column
_HEADLINE_OPTIONS = "StartSel=<mark>, StopSel=</mark>, MaxWords=35, MinWords=12, MaxFragments=2, FragmentDelimiter=' … '"


async def list_transcripts(scope: TenantScope, request: PageRequest, deal_id: uuid.UUID | None) -> Page[Transcript]:
    query = select(Transcript).options(defer(Transcript.original_text))
    if deal_id is not None:
        query = query.where(Transcript.deal_id == deal_id)
    return await keyset_page(scope, query, RECENT_FIRST, request)


async def add_transcript(scope: TenantScope, fields: dict[str, Any], max_bytes: int) -> Transcript:
    check = Checker()
    title = check.text(fields.get("title"), "input.title", max_length=300)
    language = fields.get("language")
    check.check(
        language is None or bool(_LANGUAGE.fullmatch(language)), "input.language", "must be a language code like 'en' or 'pt-BR'"
    )
    check.raise_if_any()
    content: str = fields.get("content") or ""
    try:
        parsed = parse_transcript(content, fields.get("format"), max_bytes=max_bytes)
    except TranscriptTooLarge as error:
        raise InvalidInput(FieldError("input.content", str(error), ErrorCode.TOO_LARGE)) from error
    except TranscriptParseError as error:
        raise InvalidInput(FieldError("input.content", str(error))) from error
    async with scope.session() as session:
        deal_id = fields.get("deal_id")
        if deal_id is None or await session.get(Deal, deal_id) is None:
            raise InvalidInput(FieldError("input.dealId", "deal not found", ErrorCode.NOT_FOUND))
        duplicate = await session.scalar(
            select(Transcript.id).where(Transcript.deal_id == deal_id, Transcript.content_hash == parsed.content_hash)
        )
        if duplicate is not None:
            raise InvalidInput(
                FieldError("input.content", f"this transcript was already added to the deal ({duplicate})", ErrorCode.CONFLICT)
            )
        transcript = Transcript(
            tenant_id=scope.tenant_id,
            deal_id=deal_id,
            title=title,
            occurred_at=fields.get("occurred_at") or datetime.now(UTC),
            source_format=parsed.format.value,
            original_text=content,
            participants=list(parsed.participants),
            content_hash=parsed.content_hash,
            language=language or parsed.language,
            utterance_count=len(parsed.utterances),
        )
        session.add(transcript)
        await session.flush()
        await search_jobs.enqueue(session, scope.tenant_id, [transcript.id])  # embedded off the request path
        await session.execute(
            insert(TranscriptUtterance),
            [
                {
                    "tenant_id": scope.tenant_id,
                    "transcript_id": transcript.id,
                    "position": u.index,
                    "speaker": u.speaker,
                    "start_seconds": u.start,
                    "end_seconds": u.end,
                    "text": u.text,
                }
                for u in parsed.utterances
            ],
        )
    return transcript


async def delete_transcript(scope: TenantScope, transcript_id: uuid.UUID | None) -> uuid.UUID:
    async with scope.session() as session:
        deleted = (
            await session.scalar(delete(Transcript).where(Transcript.id == transcript_id).returning(Transcript.id))
            if transcript_id
            else None
        )
    if deleted is None:
        raise InvalidInput(FieldError("id", "transcript not found", ErrorCode.NOT_FOUND))
    return deleted


def search_text(text: str) -> str:
    needle = text.strip()
    if not needle or len(needle) > MAX_SEARCH_QUERY:
        raise BadUserInput(f"'query' must be 1 to {MAX_SEARCH_QUERY} characters.")
    return needle


def tsquery_of(needle: str, any_word: bool = False) -> Any:
    """Web-search syntax (every word must match), or, for hybrid ranking, any of the words: a question
    in a manager's words rarely shares all its words with the utterance that answers it."""
    config = literal_column(f"'{SEARCH_CONFIG}'::regconfig")
    if any_word:
        return cast(func.replace(cast(func.plainto_tsquery(config, needle), Text), "&", "|"), TSQUERY)
    return func.websearch_to_tsquery(config, needle)


def headline(needle: str, any_word: bool = False) -> Any:
    """The utterance with matched words in <mark> tags (its opening words when nothing matched)."""
    return func.ts_headline(
        literal_column(f"'{SEARCH_CONFIG}'::regconfig"), TranscriptUtterance.text, tsquery_of(needle, any_word), _HEADLINE_OPTIONS
    )


def keyword_query(needle: str, filters: SearchFilters, any_word: bool = False) -> tuple[Select[Any], Any, Any]:
    """Utterances matching `needle` with their full-text rank and snippet, unordered."""
    tsquery = tsquery_of(needle, any_word)
    rank = func.ts_rank_cd(TranscriptUtterance.search_vector, tsquery)
    snippet = headline(needle, any_word)
    query = (
        select(Transcript, TranscriptUtterance, rank, snippet)
        .join(TranscriptUtterance, TranscriptUtterance.transcript_id == Transcript.id)
        .where(TranscriptUtterance.search_vector.op("@@")(tsquery))
        .options(defer(Transcript.original_text))
    )
    return filters.apply(query), rank, snippet


@dataclass(frozen=True, slots=True)
class SearchRow:
    transcript: Transcript
    utterance: TranscriptUtterance
    rank: float
    snippet: str
    matched_by: tuple[str, ...] = ("keyword",)
    similarity: float | None = None


async def search_transcripts(
    scope: TenantScope, text: str, request: PageRequest, filters: SearchFilters
) -> Page[SearchRow]:
    """Ranked utterance hits; offset cursors, since rank order has no stable key to resume from."""
    query, rank, _ = keyword_query(search_text(text), filters)
    offset = offset_after(request.after, "search")
    ordered = query.order_by(
        rank.desc(), Transcript.occurred_at.desc(), TranscriptUtterance.transcript_id, TranscriptUtterance.position
    )
    async with scope.session() as session:
        rows = (await session.execute(ordered.offset(offset).limit(request.first + 1))).all()

    async def count() -> int:
        async with scope.session() as session:
            return int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)

    kept = rows[: request.first]
    return Page(
        items=[SearchRow(t, u, float(r), s) for t, u, r, s in kept],
        cursors=[encode_cursor("search", offset + i) for i in range(len(kept))],
        has_next_page=len(rows) > request.first,
        has_previous_page=offset > 0,
        count=count,
    )
