"""Strawberry DataLoaders for every relation, so a nested query costs one SQL statement per level.

Child lists (an account's deals, a deal's transcripts, a transcript's utterances) are loaded whole
per batch of parents and paginated in memory: per-parent lists are small, and one statement for any
number of parents is what keeps the query count flat (see tests/test_dataloaders.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from functools import partial
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute, defer
from strawberry.dataloader import DataLoader

from dealgraph.db.models import (
    Account,
    AgentRun,
    Analysis,
    Deal,
    PromptAudit,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
    Transcript,
    TranscriptUtterance,
    User,
)
from dealgraph.db.session import TenantScope
from dealgraph.resolvers.qualification import load_qualifications

Row = TypeVar("Row")


class Loaders:
    def __init__(self, scope: TenantScope) -> None:
        self.scope = scope
        self.account = self._by_id(select(Account))
        self.deal = self._by_id(select(Deal))
        self.user = self._by_id(select(User))
        self.transcript = self._by_id(select(Transcript).options(defer(Transcript.original_text)))
        self.transcript_text: DataLoader[uuid.UUID, str | None] = DataLoader(self._load_transcript_texts)
        self.deals_by_account = self._children(Deal.account_id, Deal.created_at.desc(), Deal.id.desc())
        self.transcripts_by_deal = self._children(
            Transcript.deal_id,
            Transcript.occurred_at.desc(),
            Transcript.id.desc(),
            options=(defer(Transcript.original_text),),
        )
        self.utterances_by_transcript = self._children(
            TranscriptUtterance.transcript_id, TranscriptUtterance.position
        )
        self.analysis = self._by_id(select(Analysis))
        self.agent_run = self._by_id(select(AgentRun))
        self.analyses_by_transcript = self._children(Analysis.transcript_id, Analysis.created_at.desc(), Analysis.id.desc())
        self.runs_by_analysis = self._children(AgentRun.analysis_id, AgentRun.agent)
        self.qualification = DataLoader(partial(load_qualifications, scope))
        self.prompt_template = self._by_id(select(PromptTemplate))
        self.prompt_version = self._by_id(select(PromptVersion))
        self.versions_by_template = self._children(PromptVersion.template_id, PromptVersion.version.desc())
        self.labels_by_template = self._children(PromptLabel.template_id, PromptLabel.name)
        self.audit_by_template = self._children(PromptAudit.template_id, PromptAudit.created_at.desc())

    def _by_id(self, query: Select[tuple[Row]]) -> DataLoader[uuid.UUID, Row | None]:
        entity: Any = query.column_descriptions[0]["entity"]

        async def load(ids: Sequence[uuid.UUID]) -> list[Row | None]:
            async with self.scope.session() as session:
                rows = (await session.execute(query.where(entity.id.in_(ids)))).scalars().all()
            found = {row.id: row for row in rows}
            return [found.get(i) for i in ids]

        return DataLoader(load)

    def _children(
        self, parent: InstrumentedAttribute[Any], *order_by: Any, options: Sequence[Any] = ()
    ) -> DataLoader[uuid.UUID, list[Any]]:
        async def load(parent_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
            query = select(parent.class_).where(parent.in_(parent_ids)).order_by(*order_by).options(*options)
            async with self.scope.session() as session:
                rows = (await session.execute(query)).scalars().all()
            grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
            for row in rows:
                grouped[getattr(row, parent.key)].append(row)
            return [grouped[i] for i in parent_ids]

        return DataLoader(load)

    async def _load_transcript_texts(self, ids: Sequence[uuid.UUID]) -> list[str | None]:
        query = select(Transcript.id, Transcript.original_text).where(Transcript.id.in_(ids))
        async with self.scope.session() as session:
            found = {row_id: text for row_id, text in (await session.execute(query)).all()}
        return [found.get(i) for i in ids]
