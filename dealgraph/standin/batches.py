"""The Message Batches API (https://platform.claude.com/docs/en/api/messages/batches): a batch's requests are
answered asynchronously, each as the Messages endpoint would answer it, and its results are read as JSONL.

The rules, each tested in `tests/test_standin_batches.py`:
- a batch holds 1 to 100,000 requests and at most 256 MB, whichever is reached first; a larger body is a 413
  request_too_large (https://platform.claude.com/docs/en/build-with-claude/batch-processing, batch limitations);
- each `custom_id` matches `^[a-zA-Z0-9_-]{1,64}$` and is unique within its batch
  (https://platform.claude.com/docs/en/api/messages/batches/create);
- `params` are validated asynchronously: a request the Messages API would refuse, one that streams, or one with
  `max_tokens: 0` (cache pre-warming is not supported inside a batch) does not fail the create but ends as an
  `errored` result (batch-processing page: "validation of the params object ... is performed asynchronously");
- `processing_status` goes in_progress → (canceling →) ended; `request_counts` keep every request under
  `processing` until the whole batch has ended (https://platform.claude.com/docs/en/api/messages/batches/retrieve);
- results may come in any order, matched by `custom_id` (batches/results); they are kept 29 days after creation,
  then the batch is archived (`archived_at`) and its results are gone (batch-processing page, storing results);
- a batch not done 24 hours after creation expires: its unfinished requests end `expired`; a canceled batch's
  unfinished requests end `canceled` (batch-processing page; batches/cancel);
- only an ended batch can be deleted (https://platform.claude.com/docs/en/api/messages/batches/delete);
- listing returns the most recent batches first, a page of `limit` (1 to 1,000, 20 by default) after `after_id`
  (older) or before `before_id` (more recent), with `first_id`, `last_id` and `has_more` in that direction
  (https://platform.claude.com/docs/en/api/messages/batches/list).

The 24 h and 29 days are `StandinConfig` settings so tests see expiry and archiving in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, model_validator

from dealgraph.standin.config import ERROR_TYPES
from dealgraph.standin.errors import ApiError, error_body
from dealgraph.standin.ids import new_id
from dealgraph.standin.requests import MessagesRequest

MAX_BATCH_REQUESTS = 100_000
MAX_BATCH_BYTES = 256 * 1024 * 1024
DEFAULT_BATCH_PAGE = 20
_MAX_PAGE = 1000

Answer = Callable[[object], Awaitable[dict[str, Any]]]
"""Answers one request's params as the Messages endpoint would, returning the Message or raising `ApiError`."""


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    custom_id: StrictStr = Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")
    params: dict[str, Any]


class BatchCreate(BaseModel):
    """The create body; `params` are only checked to be an object here, the rest happens while processing."""

    model_config = ConfigDict(extra="forbid")

    requests: list[BatchRequest] = Field(min_length=1, max_length=MAX_BATCH_REQUESTS)

    @model_validator(mode="after")
    def _unique_ids(self) -> BatchCreate:
        seen: set[str] = set()
        for position, request in enumerate(self.requests):
            if request.custom_id in seen:
                raise ValueError(
                    f"requests.{position}.custom_id: '{request.custom_id}' is already used by another request in "
                    "this batch; custom_id must be unique within a Message Batch"
                )
            seen.add(request.custom_id)
        return self


def check_batch_params(request: MessagesRequest) -> None:
    """What the Messages API accepts but a batch does not (batch-processing page): no streaming, no pre-warming."""
    if request.stream:
        raise ApiError(400, "stream: streaming is not supported in a Message Batch")
    if request.max_tokens == 0:
        raise ApiError(400, "max_tokens: 0 (cache pre-warming) is not supported in a Message Batch; use at least 1")


def _timestamp(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass
class Batch:
    """One batch and its requests' outcomes; `results` fills as requests finish, in whatever order they do."""

    id: str
    created_at: datetime
    expires_at: datetime
    archives_at: datetime
    custom_ids: list[str]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    cancel_initiated_at: datetime | None = None
    ended_at: datetime | None = None

    @property
    def status(self) -> Literal["in_progress", "canceling", "ended"]:
        if self.ended_at is not None:
            return "ended"
        return "in_progress" if self.cancel_initiated_at is None else "canceling"

    def archived(self, now: datetime) -> bool:
        return now >= self.archives_at

    def as_api(self, base_url: str, now: datetime) -> dict[str, Any]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if self.ended_at is None:
            counts["processing"] = len(self.custom_ids)
        else:
            for result in self.results.values():
                counts[result["type"]] += 1
        return {
            "id": self.id,
            "type": "message_batch",
            "processing_status": self.status,
            "request_counts": counts,
            "created_at": _timestamp(self.created_at),
            "expires_at": _timestamp(self.expires_at),
            "ended_at": _timestamp(self.ended_at),
            "cancel_initiated_at": _timestamp(self.cancel_initiated_at),
            "archived_at": _timestamp(self.archives_at) if self.archived(now) else None,
            "results_url": None if self.ended_at is None else f"{base_url}v1/messages/batches/{self.id}/results",
        }

    def result_lines(self) -> Iterator[bytes]:
        """In a shuffled order, so a client that assumes request order fails here as it would against the API."""
        order = list(self.custom_ids)
        random.Random(self.id).shuffle(order)
        for custom_id in order:
            yield json.dumps({"custom_id": custom_id, "result": self.results[custom_id]}).encode() + b"\n"

    def stop_unfinished(self, outcome: Literal["canceled", "expired"]) -> None:
        for custom_id, task in self.tasks.items():
            if custom_id not in self.results:
                self.results[custom_id] = {"type": outcome}
                task.cancel()


class BatchStore:
    """Every batch of one stand-in, processed in the background of its event loop."""

    def __init__(self, answer: Answer, *, expiry_s: float, kept_s: float) -> None:
        self._answer = answer
        self._expiry = timedelta(seconds=expiry_s)
        self._kept = timedelta(seconds=kept_s)
        self._batches: dict[str, Batch] = {}
        self._supervisors: set[asyncio.Task[None]] = set()

    def create(self, body: BatchCreate) -> Batch:
        now = datetime.now(UTC)
        batch = Batch(
            new_id("msgbatch_"), now, now + self._expiry, now + self._kept, [r.custom_id for r in body.requests]
        )
        for request in body.requests:
            batch.tasks[request.custom_id] = asyncio.create_task(self._process(batch, request))
        supervisor = asyncio.create_task(self._supervise(batch))
        self._supervisors.add(supervisor)
        supervisor.add_done_callback(self._supervisors.discard)
        self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> Batch:
        """An unknown id is a 404 not_found_error (https://platform.claude.com/docs/en/api/errors)."""
        batch = self._batches.get(batch_id)
        if batch is None:
            raise ApiError(404, f"message_batch_id: no Message Batch {batch_id!r}")
        return batch

    def cancel(self, batch_id: str) -> Batch:
        batch = self.get(batch_id)
        if batch.status == "in_progress":
            batch.cancel_initiated_at = datetime.now(UTC)
            batch.stop_unfinished("canceled")
        return batch

    def delete(self, batch_id: str) -> None:
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise ApiError(
                400,
                f"Message Batch {batch_id} is still processing (status {batch.status}); "
                "cancel it and wait for it to end before deleting it",
            )
        del self._batches[batch_id]

    def results(self, batch_id: str) -> Batch:
        batch = self.get(batch_id)
        if batch.status != "ended":
            raise ApiError(400, f"Message Batch {batch_id} has not ended yet; results exist once processing ends")
        if batch.archived(datetime.now(UTC)):
            raise ApiError(404, f"The results of Message Batch {batch_id} are no longer available (archived)")
        return batch

    def page(self, *, after_id: str | None, before_id: str | None, limit: int) -> tuple[list[Batch], bool]:
        """Most recent first (insertion order reversed: creation times can tie within a clock tick), and whether
        more follow."""
        if not 1 <= limit <= _MAX_PAGE:
            raise ApiError(400, f"limit: Input should be between 1 and {_MAX_PAGE}")
        ordered = list(reversed(self._batches.values()))
        ids = [batch.id for batch in ordered]
        if after_id is not None:
            start = ids.index(after_id) + 1 if after_id in ids else len(ids)
            chosen, has_more = ordered[start : start + limit], len(ordered) > start + limit
        elif before_id is not None:
            end = ids.index(before_id) if before_id in ids else 0
            chosen, has_more = ordered[max(0, end - limit) : end], end - limit > 0
        else:
            chosen, has_more = ordered[:limit], len(ordered) > limit
        return chosen, has_more

    def clear(self) -> None:
        for batch in self._batches.values():
            for task in batch.tasks.values():
                task.cancel()
        self._batches.clear()

    async def _process(self, batch: Batch, request: BatchRequest) -> None:
        try:
            message = await self._answer(request.params)
        except ApiError as error:
            error_type = ERROR_TYPES.get(error.status, "invalid_request_error")
            result: dict[str, Any] = {"type": "errored", "error": error_body(error_type, error.message)}
        else:
            result = {"type": "succeeded", "message": message}
        batch.results.setdefault(request.custom_id, result)

    async def _supervise(self, batch: Batch) -> None:
        """Ends the batch once every request has an outcome, expiring what is unfinished at `expires_at`."""
        remaining = (batch.expires_at - datetime.now(UTC)).total_seconds()
        _, pending = await asyncio.wait(batch.tasks.values(), timeout=max(0.0, remaining))
        if pending:
            batch.stop_unfinished("expired")
            await asyncio.wait(pending)
        batch.ended_at = datetime.now(UTC)
