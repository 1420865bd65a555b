"""Which Message Batch is an experiment's, when no row says so.

A pool stores the intent to create an experiment's batch (when, how many requests) before it sends the create,
and the batch id once the create has answered. Between the two the process can stop, or the answer can be
lost (a timeout after the API created the batch): the intent is then stored without an id, and creating the
batch again would pay for every request twice. So a pool that finds the intent without an id looks for the
batch at the API first: the Message Batches API lists a workspace's batches (most recent first, each with its
`created_at` and request counts, https://platform.claude.com/docs/en/api/messages/batches/list), and every
custom id an experiment sends starts with its tag (its id in base64url and a dash: 23 of the 64 characters a
custom id may have), so the batch's results name the experiment they belong to.

A batch is the experiment's when it was created after the intent (allowing for the two clocks to differ by
`CLOCK_SKEW`), holds as many requests, was not canceled (a pool that lost its claim cancels what it created)
and its first result carries the tag. Results exist only once a batch has ended, so while a batch that fits
is still processing it cannot be told from another one of the workspace: the search is unsettled, and the
pool waits for it to end rather than risk sending the requests twice.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from dealgraph.claude.batches import LlmBatches

CLOCK_SKEW = timedelta(minutes=10)
"""How far the API's `created_at` may be behind the database's clock that stamped the intent."""

_Value = TypeVar("_Value")


def _prefix(experiment_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(experiment_id.bytes).decode().rstrip("=") + "-"


def tagged(experiment_id: uuid.UUID, requests: Mapping[str, _Value]) -> dict[str, _Value]:
    """The requests by the custom ids the batch is sent with: each row's own, after the experiment's tag."""
    prefix = _prefix(experiment_id)
    return {prefix + custom_id: value for custom_id, value in requests.items()}


def untagged(experiment_id: uuid.UUID, custom_id: str) -> str | None:
    """The request row's own custom id; None when `custom_id` is not one of this experiment's."""
    prefix = _prefix(experiment_id)
    return custom_id.removeprefix(prefix) if custom_id.startswith(prefix) else None


@dataclass(frozen=True, slots=True)
class Search:
    batch_id: str | None
    """The experiment's batch, if it was found."""
    settled: bool
    """False while a batch that fits is still processing: it may be the experiment's, so none may be created."""


async def find_created(batches: LlmBatches, experiment_id: uuid.UUID, requested_at: datetime, requests: int) -> Search:
    unsettled = False
    for batch in await batches.created_since(requested_at - CLOCK_SKEW):
        if batch.requests != requests or batch.cancel_initiated or batch.archived:
            continue
        if not batch.ended:
            unsettled = True
            continue
        first = await batches.first_custom_id(batch.batch_id)
        if first is not None and untagged(experiment_id, first) is not None:
            return Search(batch.batch_id, settled=True)
    return Search(None, settled=not unsettled)
