"""Batched reads for DataLoaders: one statement for any number of ids or parents.

Each `ById` / `Children` is a query shape defined once; `load` runs it for one batch of keys. Hot
relations read plain rows (`rows(Model)`) rather than ORM entities: rows skip the ORM's identity map
and per-instance state, a fifth of a nested query's CPU, and only feed a GraphQL type's `from_row`
(the column names are the attribute names for these models).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from dealgraph.db.models import (
    Account,
    AgentRun,
    Analysis,
    Dataset,
    DatasetVersion,
    Deal,
    Experiment,
    Person,
    PromptAudit,
    PromptLabel,
    PromptTemplate,
    PromptVersion,
    ResultCorrection,
    Transcript,
    TranscriptUtterance,
    User,
)


def rows(model: Any, *without: InstrumentedAttribute[Any]) -> Select[Any]:
    """A model's columns as plain rows; `without` leaves out large columns."""
    skipped = {attribute.key for attribute in without}
    return select(*(column for column in model.__table__.columns if column.key not in skipped))


async def _fetch(session: AsyncSession, query: Select[Any]) -> Sequence[Any]:
    """ORM entities for `select(Model)`, plain rows for `rows(Model)`."""
    result = await session.execute(query)
    return result.scalars().all() if len(query.column_descriptions) == 1 else result.all()


@dataclass(frozen=True, slots=True)
class ById:
    query: Select[Any]
    id: Any = field(init=False)

    def __post_init__(self) -> None:
        table: Any = self.query.get_final_froms()[0]
        object.__setattr__(self, "id", table.c.id)

    async def load(self, session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[Any]:
        """The row of each id, in order; None where there is none (or it is not visible)."""
        found = {row.id: row for row in await _fetch(session, self.query.where(self.id.in_(ids)))}
        return [found.get(i) for i in ids]


@dataclass(frozen=True, slots=True)
class Children:
    query: Select[Any]
    parent: InstrumentedAttribute[Any]
    order_by: tuple[Any, ...]

    async def load(self, session: AsyncSession, parent_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
        """Each parent's whole list, in `order_by` order (lists are small and paginated in memory)."""
        grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
        for row in await _fetch(session, self.query.where(self.parent.in_(parent_ids)).order_by(*self.order_by)):
            grouped[getattr(row, self.parent.key)].append(row)
        return [grouped[i] for i in parent_ids]


ACCOUNT = ById(rows(Account))
DEAL = ById(rows(Deal))
USER = ById(rows(User))
PERSON = ById(rows(Person))
TRANSCRIPT = ById(rows(Transcript, Transcript.original_text))
DEALS_BY_ACCOUNT = Children(rows(Deal), Deal.account_id, (Deal.created_at.desc(), Deal.id.desc()))
TRANSCRIPTS_BY_DEAL = Children(
    rows(Transcript, Transcript.original_text),
    Transcript.deal_id,
    (Transcript.occurred_at.desc(), Transcript.id.desc()),
)
CORRECTIONS_BY_TRANSCRIPT = Children(
    rows(ResultCorrection),
    ResultCorrection.transcript_id,
    (ResultCorrection.agent, ResultCorrection.target, ResultCorrection.field),
)
UTTERANCES_BY_TRANSCRIPT = Children(
    rows(TranscriptUtterance), TranscriptUtterance.transcript_id, (TranscriptUtterance.position,)
)
DATASET = ById(select(Dataset))
EXPERIMENT = ById(select(Experiment))
VERSIONS_BY_DATASET = Children(select(DatasetVersion), DatasetVersion.dataset_id, (DatasetVersion.version.desc(),))
ANALYSIS = ById(select(Analysis))
AGENT_RUN = ById(select(AgentRun))
ANALYSES_BY_TRANSCRIPT = Children(
    select(Analysis), Analysis.transcript_id, (Analysis.created_at.desc(), Analysis.id.desc())
)
RUNS_BY_ANALYSIS = Children(select(AgentRun), AgentRun.analysis_id, (AgentRun.agent,))
PROMPT_TEMPLATE = ById(select(PromptTemplate))
PROMPT_VERSION = ById(select(PromptVersion))
VERSIONS_BY_TEMPLATE = Children(select(PromptVersion), PromptVersion.template_id, (PromptVersion.version.desc(),))
LABELS_BY_TEMPLATE = Children(select(PromptLabel), PromptLabel.template_id, (PromptLabel.name,))
AUDIT_BY_TEMPLATE = Children(select(PromptAudit), PromptAudit.template_id, (PromptAudit.created_at.desc(),))


async def transcript_texts(session: AsyncSession, ids: Sequence[uuid.UUID]) -> list[str | None]:
    """Each transcript's original text, in order (the one large column the other reads leave out)."""
    query = select(Transcript.id, Transcript.original_text).where(Transcript.id.in_(ids))
    found = {row_id: text for row_id, text in (await session.execute(query)).all()}
    return [found.get(i) for i in ids]
