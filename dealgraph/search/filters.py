"""What sales users narrow a search by (deal, account, speaker, call date); every mode applies them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select

from dealgraph.db.models import Deal, Transcript, TranscriptUtterance


@dataclass(frozen=True, slots=True)
class SearchFilters:
    deal_id: uuid.UUID | None = None
    account_id: uuid.UUID | None = None
    speaker: str | None = None  # exact, case-insensitive
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # exclusive

    @property
    def narrowed(self) -> bool:
        return any(v is not None for v in (self.deal_id, self.account_id, self.speaker, self.occurred_from, self.occurred_to))

    def apply(self, query: Select[Any]) -> Select[Any]:
        """Narrow a query over transcripts joined with their utterances."""
        if self.deal_id is not None:
            query = query.where(Transcript.deal_id == self.deal_id)
        if self.account_id is not None:
            query = query.where(Transcript.deal_id.in_(select(Deal.id).where(Deal.account_id == self.account_id)))
        if self.speaker is not None:
            query = query.where(func.lower(TranscriptUtterance.speaker) == self.speaker.strip().lower())
        if self.occurred_from is not None:
            query = query.where(Transcript.occurred_at >= self.occurred_from)
        if self.occurred_to is not None:
            query = query.where(Transcript.occurred_at < self.occurred_to)
        return query

    def sql(self) -> tuple[str, dict[str, Any]]:
        """The same conditions over `transcript_windows w JOIN transcripts t` (the vector path's plain SQL)."""
        conditions: list[str] = []
        if self.deal_id is not None:
            conditions.append("t.deal_id = :f_deal")
        if self.account_id is not None:
            conditions.append("t.deal_id IN (SELECT id FROM deals WHERE account_id = :f_account)")
        if self.speaker is not None:
            conditions.append("lower(w.speaker) = :f_speaker")
        if self.occurred_from is not None:
            conditions.append("t.occurred_at >= :f_from")
        if self.occurred_to is not None:
            conditions.append("t.occurred_at < :f_to")
        params = {
            "f_deal": self.deal_id, "f_account": self.account_id, "f_from": self.occurred_from, "f_to": self.occurred_to,
            "f_speaker": self.speaker.strip().lower() if self.speaker is not None else None,
        }
        return " AND ".join(conditions), params
