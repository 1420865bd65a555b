"""Strawberry DataLoaders for every relation, so a nested query costs one SQL statement per level.

Child lists (an account's deals, a deal's transcripts, a transcript's utterances) are loaded whole
per batch of parents and paginated in memory: per-parent lists are small, and one statement for any
number of parents is what keeps the query count flat (see tests/test_dataloaders.py).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from functools import cached_property, partial
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import InstrumentedAttribute
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
from dealgraph.resolvers.qualification import Qualification, load_qualifications


def rows(model: Any, *without: InstrumentedAttribute[Any]) -> Select[Any]:
    """A model's columns as plain rows, for loaders whose results only feed a GraphQL type's `from_row`.

    Rows skip the ORM's identity map and per-instance state, a fifth of a nested query's CPU; the
    column names are the attribute names for these models. `without` leaves out large columns.
    """
    skipped = {attribute.key for attribute in without}
    return select(*(column for column in model.__table__.columns if column.key not in skipped))


class Loaders:
    """One set per operation; each DataLoader is made on first use (an operation uses few of them)."""

    def __init__(self, scope: TenantScope) -> None:
        self.scope = scope

    @cached_property
    def account(self) -> DataLoader[uuid.UUID, Any]:  # an Account row
        return self._by_id(rows(Account))

    @cached_property
    def deal(self) -> DataLoader[uuid.UUID, Any]:  # a Deal row
        return self._by_id(rows(Deal))

    @cached_property
    def user(self) -> DataLoader[uuid.UUID, Any]:  # a User row
        return self._by_id(rows(User))

    @cached_property
    def transcript(self) -> DataLoader[uuid.UUID, Any]:  # a Transcript row
        return self._by_id(rows(Transcript, Transcript.original_text))

    @cached_property
    def transcript_text(self) -> DataLoader[uuid.UUID, str | None]:
        return DataLoader(self._load_transcript_texts)

    @cached_property
    def deals_by_account(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(rows(Deal), Deal.account_id, Deal.created_at.desc(), Deal.id.desc())

    @cached_property
    def transcripts_by_deal(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(
            rows(Transcript, Transcript.original_text), Transcript.deal_id, Transcript.occurred_at.desc(), Transcript.id.desc()
        )

    @cached_property
    def utterances_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(rows(TranscriptUtterance), TranscriptUtterance.transcript_id, TranscriptUtterance.position)

    @cached_property
    def analysis(self) -> DataLoader[uuid.UUID, Analysis | None]:
        return self._by_id(select(Analysis))

    @cached_property
    def agent_run(self) -> DataLoader[uuid.UUID, AgentRun | None]:
        return self._by_id(select(AgentRun))

    @cached_property
    def analyses_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(select(Analysis), Analysis.transcript_id, Analysis.created_at.desc(), Analysis.id.desc())

    @cached_property
    def runs_by_analysis(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(select(AgentRun), AgentRun.analysis_id, AgentRun.agent)

    @cached_property
    def qualification(self) -> DataLoader[uuid.UUID, Qualification]:
        return DataLoader(partial(load_qualifications, self.scope))

    @cached_property
    def prompt_template(self) -> DataLoader[uuid.UUID, PromptTemplate | None]:
        return self._by_id(select(PromptTemplate))

    @cached_property
    def prompt_version(self) -> DataLoader[uuid.UUID, PromptVersion | None]:
        return self._by_id(select(PromptVersion))

    @cached_property
    def versions_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(select(PromptVersion), PromptVersion.template_id, PromptVersion.version.desc())

    @cached_property
    def labels_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(select(PromptLabel), PromptLabel.template_id, PromptLabel.name)

    @cached_property
    def audit_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(select(PromptAudit), PromptAudit.template_id, PromptAudit.created_at.desc())

    def _by_id(self, query: Select[Any]) -> DataLoader[uuid.UUID, Any]:
        table: Any = query.get_final_froms()[0]

        async def load(ids: Sequence[uuid.UUID]) -> list[Any]:
            found = {row.id: row for row in await self._fetch(query.where(table.c.id.in_(ids)))}
            return [found.get(i) for i in ids]

        return DataLoader(load)

    def _children(self, query: Select[Any], parent: InstrumentedAttribute[Any], *order_by: Any) -> DataLoader[uuid.UUID, list[Any]]:
        async def load(parent_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
            grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
            for row in await self._fetch(query.where(parent.in_(parent_ids)).order_by(*order_by)):
                grouped[getattr(row, parent.key)].append(row)
            return [grouped[i] for i in parent_ids]

        return DataLoader(load)

    async def _fetch(self, query: Select[Any]) -> Sequence[Any]:
        """ORM entities for `select(Model)`, plain rows for `rows(Model)`."""
        async with self.scope.session() as session:
            result = await session.execute(query)
            return result.scalars().all() if len(query.column_descriptions) == 1 else result.all()

    async def _load_transcript_texts(self, ids: Sequence[uuid.UUID]) -> list[str | None]:
        query = select(Transcript.id, Transcript.original_text).where(Transcript.id.in_(ids))
        async with self.scope.session() as session:
            found = {row_id: text for row_id, text in (await session.execute(query)).all()}
        return [found.get(i) for i in ids]
