"""Strawberry DataLoaders for every relation, so a nested query costs one SQL statement per level.

Child lists (an account's deals, a deal's transcripts, a transcript's utterances) are loaded whole
per batch of parents and paginated in memory: per-parent lists are small, and one statement for any
number of parents is what keeps the query count flat (see tests/test_dataloaders.py). The queries
are `dealgraph.db.repositories.batches`'; this module gives each operation its own caches.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from dealgraph.agents.registry import AGENT_NAMES
from dealgraph.db.models import AgentRun, Analysis, PromptTemplate, PromptVersion
from dealgraph.db.repositories import batches, people, proposals
from dealgraph.db.repositories.batches import ById, Children
from dealgraph.db.session import TenantScope
from dealgraph.services.conversation import DealCalls, PersonRange, Rollup, load_deal_calls, load_person_rollups
from dealgraph.services.deals import StageEntry, load_stage_histories
from dealgraph.services.health import DealHealthView, load_health
from dealgraph.services.people import Appearance, load_deal_people, load_person_appearances
from dealgraph.services.qualification import CallResult, load_analysed_calls


class Loaders:
    """One set per operation; each DataLoader is made on first use (an operation uses few of them)."""

    def __init__(self, scope: TenantScope) -> None:
        self.scope = scope

    @cached_property
    def account(self) -> DataLoader[uuid.UUID, Any]:  # an Account row
        return self._by_id(batches.ACCOUNT)

    @cached_property
    def deal(self) -> DataLoader[uuid.UUID, Any]:  # a Deal row
        return self._by_id(batches.DEAL)

    @cached_property
    def user(self) -> DataLoader[uuid.UUID, Any]:  # a User row
        return self._by_id(batches.USER)

    @cached_property
    def transcript(self) -> DataLoader[uuid.UUID, Any]:  # a Transcript row
        return self._by_id(batches.TRANSCRIPT)

    @cached_property
    def transcript_text(self) -> DataLoader[uuid.UUID, str | None]:
        return DataLoader(partial(_load_transcript_texts, self.scope))

    @cached_property
    def deals_by_account(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.DEALS_BY_ACCOUNT)

    @cached_property
    def transcripts_by_deal(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.TRANSCRIPTS_BY_DEAL)

    @cached_property
    def dataset(self) -> DataLoader[uuid.UUID, Any]:  # a Dataset row
        return self._by_id(batches.DATASET)

    @cached_property
    def experiment(self) -> DataLoader[uuid.UUID, Any]:  # an Experiment row
        return self._by_id(batches.EXPERIMENT)

    @cached_property
    def versions_by_dataset(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.VERSIONS_BY_DATASET)

    @cached_property
    def corrections_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.CORRECTIONS_BY_TRANSCRIPT)

    @cached_property
    def utterances_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.UTTERANCES_BY_TRANSCRIPT)

    @cached_property
    def analysis(self) -> DataLoader[uuid.UUID, Analysis | None]:
        return self._by_id(batches.ANALYSIS)

    @cached_property
    def agent_run(self) -> DataLoader[uuid.UUID, AgentRun | None]:
        return self._by_id(batches.AGENT_RUN)

    @cached_property
    def analyses_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.ANALYSES_BY_TRANSCRIPT)

    @cached_property
    def runs_by_analysis(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.RUNS_BY_ANALYSIS)

    @cached_property
    def analysed_calls(self) -> DataLoader[uuid.UUID, list[CallResult]]:
        """Each deal's MEDDPICC results per call: its roll-up and its history come from the same statement."""
        return DataLoader(partial(load_analysed_calls, self.scope))

    @cached_property
    def stage_history(self) -> DataLoader[uuid.UUID, list[StageEntry]]:
        return DataLoader(partial(load_stage_histories, self.scope))

    @cached_property
    def health(self) -> DataLoader[uuid.UUID, DealHealthView]:
        return DataLoader(partial(load_health, self.scope))

    @cached_property
    def person(self) -> DataLoader[uuid.UUID, Any]:  # a Person row
        return self._by_id(batches.PERSON)

    @cached_property
    def speakers_by_transcript(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(people.speakers_by_transcript)

    @cached_property
    def deal_calls(self) -> DataLoader[uuid.UUID, DealCalls]:
        """Each deal's conversation roll-up and its calls' metrics: a call's metrics are read with its deal's."""
        return DataLoader(partial(load_deal_calls, self.scope))

    @cached_property
    def person_rollup(self) -> DataLoader[PersonRange, Rollup]:
        return DataLoader(partial(load_person_rollups, self.scope))

    @cached_property
    def deal_people(self) -> DataLoader[uuid.UUID, list[Appearance]]:
        return DataLoader(partial(load_deal_people, self.scope))

    @cached_property
    def person_appearances(self) -> DataLoader[uuid.UUID, Appearance | None]:
        return DataLoader(partial(load_person_appearances, self.scope))

    @cached_property
    def proposal(self) -> DataLoader[uuid.UUID, Any]:  # a DealProposal
        return self._batch(proposals.by_ids)

    @cached_property
    def proposals_by_deal(self) -> DataLoader[tuple[uuid.UUID, str | None], list[Any]]:
        """Keyed by (deal, status or None for every status)."""
        scope = self.scope

        async def load(keys: Sequence[tuple[uuid.UUID, str | None]]) -> list[list[Any]]:
            async with scope.session() as session:
                return list(await proposals.by_deals(session, keys))

        return DataLoader(load)

    @cached_property
    def decisions_by_proposal(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._batch(proposals.decisions_of)

    @cached_property
    def prompt_template(self) -> DataLoader[uuid.UUID, PromptTemplate | None]:
        return self._by_id(batches.PROMPT_TEMPLATE)

    @cached_property
    def prompt_version(self) -> DataLoader[uuid.UUID, PromptVersion | None]:
        return self._by_id(batches.PROMPT_VERSION)

    @cached_property
    def agent_prompt_template(self) -> DataLoader[uuid.UUID, PromptTemplate | None]:
        """`prompt_template` for members: the pairwise judge's template is for admins, who run experiments."""
        templates = self.prompt_template

        async def load(ids: Sequence[uuid.UUID]) -> list[PromptTemplate | None]:
            rows = await templates.load_many(ids)
            return [row if row is not None and row.agent in AGENT_NAMES else None for row in rows]

        return DataLoader(load)

    @cached_property
    def agent_prompt_version(self) -> DataLoader[uuid.UUID, PromptVersion | None]:
        """`prompt_version` for members: versions of the agents' templates only (see `agent_prompt_template`)."""
        versions, templates = self.prompt_version, self.agent_prompt_template

        async def load(ids: Sequence[uuid.UUID]) -> list[PromptVersion | None]:
            rows = await versions.load_many(ids)
            owners = await templates.load_many(list({row.template_id for row in rows if row is not None}))
            visible = {owner.id for owner in owners if owner is not None}
            return [row if row is not None and row.template_id in visible else None for row in rows]

        return DataLoader(load)

    @cached_property
    def versions_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.VERSIONS_BY_TEMPLATE)

    @cached_property
    def labels_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.LABELS_BY_TEMPLATE)

    @cached_property
    def audit_by_template(self) -> DataLoader[uuid.UUID, list[Any]]:
        return self._children(batches.AUDIT_BY_TEMPLATE)

    # The batch functions hold the scope, not `self`: a loader referring back to its Loaders would make
    # a reference cycle, and every row an operation loaded would wait for the garbage collector.
    def _by_id(self, batch: ById) -> DataLoader[uuid.UUID, Any]:
        scope = self.scope

        async def load(ids: Sequence[uuid.UUID]) -> list[Any]:
            async with scope.session() as session:
                return await batch.load(session, ids)

        return DataLoader(load)

    def _batch(
        self, load_batch: Callable[[AsyncSession, Sequence[uuid.UUID]], Awaitable[list[Any]]]
    ) -> DataLoader[uuid.UUID, Any]:
        scope = self.scope

        async def load(keys: Sequence[uuid.UUID]) -> list[Any]:
            async with scope.session() as session:
                return await load_batch(session, keys)

        return DataLoader(load)

    def _children(self, batch: Children) -> DataLoader[uuid.UUID, list[Any]]:
        scope = self.scope

        async def load(parent_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
            async with scope.session() as session:
                return await batch.load(session, parent_ids)

        return DataLoader(load)


async def _load_transcript_texts(scope: TenantScope, ids: Sequence[uuid.UUID]) -> list[str | None]:
    async with scope.session() as session:
        return await batches.transcript_texts(session, ids)
