"""Transcripts: ingest (parse, size limit, de-duplication), listing and deletion (search: `dealgraph.search`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import StringConstraints
from typing_extensions import TypedDict

from dealgraph.db.models import Transcript
from dealgraph.db.repositories import deals, search_jobs, transcripts
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.services import people
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.transcripts.formats import TranscriptParseError, TranscriptTooLarge, parse_transcript
from dealgraph.validation import InvalidInput, Rules, text


class TranscriptFields(TypedDict, total=False):
    title: Annotated[str, text(300)]
    # 'en', 'pt-BR': fits the 8-character column
    language: Annotated[str, StringConstraints(pattern=r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,4})?$")] | None


TRANSCRIPT_RULES = Rules(
    TranscriptFields, {("language", "string_pattern_mismatch"): "must be a language code like 'en' or 'pt-BR'"}
)


async def list_transcripts(scope: TenantScope, request: PageRequest, deal_id: uuid.UUID | None) -> Page[Transcript]:
    return await keyset_page(scope, transcripts.listing(deal_id), transcripts.RECENT_FIRST, request)


async def add_transcript(scope: TenantScope, fields: dict[str, Any], max_bytes: int) -> Transcript:
    valid = TRANSCRIPT_RULES.validate(fields, at=("input",))
    content: str = fields.get("content") or ""
    try:
        parsed = parse_transcript(content, fields.get("format"), max_bytes=max_bytes)
    except TranscriptTooLarge as error:
        raise InvalidInput.at(("input", "content"), str(error), ErrorCode.TOO_LARGE) from error
    except TranscriptParseError as error:
        raise InvalidInput.at(("input", "content"), str(error)) from error
    async with scope.session() as session:
        deal_id = fields.get("deal_id")
        if deal_id is None or not await deals.hold(session, deal_id):
            raise InvalidInput.at(("input", "deal_id"), "deal not found", ErrorCode.NOT_FOUND)
        # inserted before looking for a duplicate: a look first would miss one a concurrent request is adding
        transcript = await transcripts.add(
            session,
            {
                "tenant_id": scope.tenant_id,
                "deal_id": deal_id,
                "title": valid["title"],
                "occurred_at": fields.get("occurred_at") or datetime.now(UTC),
                "source_format": parsed.format.value,
                "original_text": content,
                "participants": list(parsed.participants),
                "content_hash": parsed.content_hash,
                "language": valid.get("language") or parsed.language,
                "utterance_count": len(parsed.utterances),
            },
        )
        if transcript is None:
            duplicate = await transcripts.duplicate_of(session, deal_id, parsed.content_hash)
            raise InvalidInput.at(
                ("input", "content"), f"this transcript was already added to the deal ({duplicate})", ErrorCode.CONFLICT
            )
        await search_jobs.enqueue(session, scope.tenant_id, [transcript.id])  # embedded off the request path
        await transcripts.add_utterances(
            session,
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
        await people.link_call(session, scope.tenant_id, deal_id, transcript.id, parsed)
    return transcript


async def delete_transcript(scope: TenantScope, transcript_id: uuid.UUID | None) -> uuid.UUID:
    async with scope.session() as session:
        deleted = await transcripts.delete_transcript(session, transcript_id) if transcript_id else None
    if deleted is None:
        raise InvalidInput.at("id", "transcript not found", ErrorCode.NOT_FOUND)
    return deleted
