"""Datasets: named, frozen, versioned lists of a tenant's calls that prompt experiments run on (admins only).

Calls are picked by id or by a filter (deals, accounts, a date range, calls with a corrected result), every
given condition applying. Version 1 is the dataset's creation; adding calls writes the next version with the
previous calls and the new ones, and no version ever changes, so a run names exactly what it ran on.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.models import Dataset, DatasetVersion
from dealgraph.db.repositories import datasets
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.validation import InvalidInput

_MAX_NAME = 200


@dataclass(frozen=True, slots=True)
class CallSelection:
    """Which calls: None is "any"; ids that name nothing the tenant has select nothing."""

    transcript_ids: list[uuid.UUID] | None = None
    deal_ids: list[uuid.UUID] | None = None
    account_ids: list[uuid.UUID] | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None
    corrected_only: bool = False

    def stored(self) -> dict[str, Any]:
        """As the version keeps it (JSON): how its calls were picked."""
        return {
            name: [str(i) for i in value]
            if isinstance(value, list)
            else value.isoformat()
            if isinstance(value, datetime)
            else value
            for name, value in asdict(self).items()
        }


async def _picked(session: AsyncSession, selection: CallSelection) -> list[uuid.UUID]:
    if selection == CallSelection():
        raise InvalidInput.at(("input", "selection"), "must name calls: by ids, or by at least one filter")
    if (
        selection.occurred_from is not None
        and selection.occurred_to is not None
        and selection.occurred_from >= selection.occurred_to
    ):
        raise InvalidInput.at(("input", "selection", "occurred_to"), "must be after occurredFrom")
    picked = await datasets.pick_calls(session, **asdict(selection))
    if selection.transcript_ids is not None and len(picked) < len(set(selection.transcript_ids)):
        missing = len(set(selection.transcript_ids)) - len(picked)
        raise InvalidInput.at(
            ("input", "selection", "transcript_ids"),
            f"{missing} of the given calls do not exist or do not meet the other conditions",
            ErrorCode.NOT_FOUND,
        )
    if not picked:
        raise InvalidInput.at(("input", "selection"), "selects no calls")
    return picked


async def create_dataset(scope: TenantScope, user_id: uuid.UUID | None, name: str, selection: CallSelection) -> Dataset:
    name = name.strip()
    if not name or len(name) > _MAX_NAME:
        raise InvalidInput.at(("input", "name"), f"must be 1 to {_MAX_NAME} characters")
    async with scope.session() as session:
        picked = await _picked(session, selection)
        dataset = await datasets.create(session, {"tenant_id": scope.tenant_id, "name": name, "created_by_id": user_id})
        if dataset is None:
            raise InvalidInput.at(("input", "name"), "a dataset of this name exists", ErrorCode.CONFLICT)
        await datasets.add_version(session, _version_row(scope, dataset, 1, picked, selection, user_id))
        return dataset


async def add_to_dataset(
    scope: TenantScope, user_id: uuid.UUID | None, dataset_id: uuid.UUID | None, selection: CallSelection
) -> DatasetVersion:
    """The new version: the latest one's calls, then the newly picked ones not among them."""
    async with scope.session() as session:
        dataset = await datasets.locked(session, dataset_id) if dataset_id else None
        if dataset is None:
            raise InvalidInput.at(("input", "dataset_id"), "no such dataset", ErrorCode.NOT_FOUND)
        latest = await datasets.version(session, dataset.id, dataset.latest_version)
        assert latest is not None  # every dataset is created with its version 1
        known = set(latest.transcript_ids)
        added = [call for call in await _picked(session, selection) if call not in known]
        if not added:
            raise InvalidInput.at(
                ("input", "selection"), f"adds no call that version {latest.version} does not already have"
            )
        number = dataset.latest_version + 1
        row = _version_row(scope, dataset, number, [*latest.transcript_ids, *added], selection, user_id)
        version = await datasets.add_version(session, row)
        dataset.latest_version = number
        return version


def _version_row(
    scope: TenantScope,
    dataset: Dataset,
    number: int,
    calls: list[uuid.UUID],
    selection: CallSelection,
    user_id: uuid.UUID | None,
) -> dict[str, Any]:
    return {
        "tenant_id": scope.tenant_id,
        "dataset_id": dataset.id,
        "version": number,
        "transcript_ids": calls,
        "selection": selection.stored(),
        "created_by_id": user_id,
    }


async def list_datasets(scope: TenantScope) -> list[Dataset]:
    async with scope.session() as session:
        return await datasets.all_datasets(session)
