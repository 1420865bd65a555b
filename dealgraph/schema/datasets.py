"""Datasets of calls for prompt experiments: admins only; to anyone else a dataset does not exist."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader

from dealgraph.db import models
from dealgraph.db.models import Role
from dealgraph.schema.common import LoadedNode, UserError, global_id
from dealgraph.schema.context import Context
from dealgraph.schema.tenancy import User
from dealgraph.services.datasets import CallSelection
from dealgraph.services.ids import node_uuid

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
Info = strawberry.Info[Context, None]


async def _none_for_each(ids: Sequence[uuid.UUID]) -> list[None]:
    return [None for _ in ids]


def _ids(values: list[relay.GlobalID] | None, type_name: str) -> list[uuid.UUID] | None:
    """A foreign or malformed id selects nothing, as any id the caller may not see."""
    return None if values is None else [node_uuid(value, type_name) or uuid.UUID(int=0) for value in values]


@strawberry.input(description="Which calls: every given condition applies; give ids, or at least one filter.")
class CallSelectionInput:
    transcript_ids: list[relay.GlobalID] | None = None
    deal_ids: list[relay.GlobalID] | None = None
    account_ids: list[relay.GlobalID] | None = None
    occurred_from: datetime | None = strawberry.field(default=None, description="Calls at or after this time.")
    occurred_to: datetime | None = strawberry.field(default=None, description="Calls before this time.")
    corrected_only: bool = strawberry.field(default=False, description="Only calls with a corrected result.")

    def selection(self) -> CallSelection:
        return CallSelection(
            transcript_ids=_ids(self.transcript_ids, "Transcript"),
            deal_ids=_ids(self.deal_ids, "Deal"),
            account_ids=_ids(self.account_ids, "Account"),
            occurred_from=self.occurred_from,
            occurred_to=self.occurred_to,
            corrected_only=self.corrected_only,
        )


@strawberry.type(description="How a version's calls were picked.")
class CallSelectionUsed:
    transcript_ids: list[strawberry.ID] | None
    deal_ids: list[strawberry.ID] | None
    account_ids: list[strawberry.ID] | None
    occurred_from: datetime | None
    occurred_to: datetime | None
    corrected_only: bool

    @classmethod
    def of(cls, stored: dict[str, Any]) -> CallSelectionUsed:
        def ids(key: str, type_name: str) -> list[strawberry.ID] | None:
            values = stored.get(key)
            return None if values is None else [global_id(type_name, value) for value in values]

        def moment(key: str) -> datetime | None:
            value = stored.get(key)
            return None if value is None else datetime.fromisoformat(value)

        return cls(
            transcript_ids=ids("transcript_ids", "Transcript"),
            deal_ids=ids("deal_ids", "Deal"),
            account_ids=ids("account_ids", "Account"),
            occurred_from=moment("occurred_from"),
            occurred_to=moment("occurred_to"),
            corrected_only=bool(stored.get("corrected_only")),
        )


@strawberry.type(description="One frozen version of a dataset: its calls never change.")
class DatasetVersion:
    version: int
    created_at: datetime
    row: strawberry.Private[Any]

    @classmethod
    def of(cls, row: Any) -> DatasetVersion:
        return cls(version=row.version, created_at=row.created_at, row=row)

    @strawberry.field
    def call_count(self) -> int:
        return len(self.row.transcript_ids)

    @strawberry.field
    def selection(self) -> CallSelectionUsed:
        return CallSelectionUsed.of(self.row.selection)

    @strawberry.field(description="The calls, oldest first; a call deleted since is left out.")
    async def calls(self, info: Info) -> list[TranscriptType]:
        from dealgraph.schema.transcripts import Transcript

        rows = await info.context.loaders.transcript.load_many(self.row.transcript_ids)
        return [Transcript.from_row(row) for row in rows if row is not None]

    @strawberry.field
    async def created_by(self, info: Info) -> User | None:
        user = await info.context.loaders.user.load(self.row.created_by_id) if self.row.created_by_id else None
        return User.from_row(user) if user else None


@strawberry.type(description="Admins: a named, versioned list of calls that prompt experiments run on.")
class Dataset(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    name: str
    latest_version: int
    created_at: datetime
    row: strawberry.Private[models.Dataset]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        if info.context.viewer.role is not Role.ADMIN:
            return DataLoader(_none_for_each)
        return info.context.loaders.dataset

    @strawberry.field(description="Newest first.")
    async def versions(self, info: Info) -> list[DatasetVersion]:
        return [DatasetVersion.of(row) for row in await info.context.loaders.versions_by_dataset.load(self.row.id)]

    @strawberry.field(description="One version; the latest when none is named.")
    async def version(self, info: Info, number: int | None = None) -> DatasetVersion | None:
        wanted = self.row.latest_version if number is None else number
        rows = await info.context.loaders.versions_by_dataset.load(self.row.id)
        return next((DatasetVersion.of(row) for row in rows if row.version == wanted), None)


@strawberry.input
class CreateDatasetInput:
    name: str
    selection: CallSelectionInput


@strawberry.input
class AddToDatasetInput:
    dataset_id: relay.GlobalID
    selection: CallSelectionInput


@strawberry.type
class DatasetPayload:
    dataset: Dataset | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class DatasetVersionPayload:
    version: DatasetVersion | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(
    description="Admins: what running a prompt label on a dataset would cost: counted with count_tokens, priced at "
    "list price with every prompt token uncached and every request using its whole maxTokens (the most it can cost)."
)
class ExperimentEstimate:
    requests: int = strawberry.field(
        description="One per call and agent; with a baseline, its too where none is stored, and with pairwise the "
        "judge's."
    )
    input_tokens: int
    max_output_tokens: int
    live_cost_usd: float = strawberry.field(description="Sent one by one (LIVE).")
    batch_cost_usd: float = strawberry.field(
        description="Sent as a Message Batch (BATCH): half the price, but for the pairwise judge's requests (sent LIVE)."
    )
    simulated: bool = strawberry.field(description="Counted by the local stand-in (an estimate of an estimate).")
    judge_requests: int = strawberry.field(description="The pairwise judge's requests among them (0 without pairwise).")
    judge_cost_usd: float = strawberry.field(description="Theirs, at the LIVE price, in both costs.")
