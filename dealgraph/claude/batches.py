"""The Message Batches API (https://platform.claude.com/docs/en/build-with-claude/batch-processing): many
agent requests sent at once, answered within 24 hours at half the price, results matched by `custom_id`.

The caller keeps the batch id and each request's custom id durably (a batch is billed once, whatever
happens to the process that created it) and polls `status` until the batch has ended; `results` then turns
each line into what `LlmClient.complete` would have returned or raised, so a batch result and a live one
are scored alike. A `canceled` or `expired` request was not answered and is not billed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal

from dealgraph.claude.client import (
    SIMULATED_HEADER,
    Completion,
    LlmClient,
    LlmError,
    StructuredRequest,
    completion_of,
    error_of_type,
    sdk_errors_as_llm_errors,
)

if TYPE_CHECKING:
    from anthropic.resources.messages.batches import AsyncBatches
    from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

_NOT_ANSWERED = {
    "canceled": LlmError("BATCH_CANCELED", "the batch was canceled before this request was answered"),
    "expired": LlmError(
        "BATCH_EXPIRED", "the batch ended 24 hours after its creation before this request was answered", retryable=True
    ),
}


@dataclass(frozen=True, slots=True)
class BatchStatus:
    batch_id: str
    processing_status: Literal["in_progress", "canceling", "ended"]
    processing: int
    """Requests not ended yet: all of them until the whole batch has ended."""
    simulated: bool

    @property
    def ended(self) -> bool:
        return self.processing_status == "ended"


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    """One request's result: a completion, or the failure `complete` would have raised."""

    custom_id: str
    completion: Completion | None
    error: LlmError | None


@dataclass(frozen=True, slots=True)
class ListedBatch:
    """What the list of batches says of one: all that tells a batch apart until its results can be read."""

    batch_id: str
    created_at: datetime
    requests: int
    """Every request of the batch: its request counts always add up to the batch's size."""
    ended: bool
    cancel_initiated: bool
    archived: bool
    """Its results are gone (29 days after its creation)."""


def _listed(batch: MessageBatch) -> ListedBatch:
    counts = batch.request_counts
    return ListedBatch(
        batch.id,
        batch.created_at,
        counts.processing + counts.succeeded + counts.errored + counts.canceled + counts.expired,
        batch.processing_status == "ended",
        batch.cancel_initiated_at is not None,
        batch.archived_at is not None,
    )


_LIST_PAGE = 100
"""Batches per page of the list: a search back over minutes rarely needs a second page."""


def _status(batch: MessageBatch, headers: Mapping[str, str]) -> BatchStatus:
    return BatchStatus(
        batch.id, batch.processing_status, batch.request_counts.processing, headers.get(SIMULATED_HEADER) == "true"
    )


class LlmBatches:
    """Batch calls over the client's SDK: one connection pool, one key, the same error codes."""

    def __init__(self, llm: LlmClient) -> None:
        self._llm = llm

    @property
    def _sdk(self) -> AsyncBatches:
        return self._llm.sdk.messages.batches  # the SDK is built at the first request (`LlmClient.sdk`)

    async def submit(self, requests: Mapping[str, StructuredRequest]) -> BatchStatus:
        """`requests` by custom id (`^[a-zA-Z0-9_-]{1,64}$`, unique). A refused batch raises `LlmError`."""
        body = [{"custom_id": custom_id, "params": request.params()} for custom_id, request in requests.items()]
        with sdk_errors_as_llm_errors():
            raw = await self._sdk.with_raw_response.create(requests=body)  # type: ignore[arg-type]
            return _status(await raw.parse(), raw.headers)

    async def status(self, batch_id: str) -> BatchStatus:
        with sdk_errors_as_llm_errors():
            raw = await self._sdk.with_raw_response.retrieve(batch_id)
            return _status(await raw.parse(), raw.headers)

    async def cancel(self, batch_id: str) -> BatchStatus:
        """Requests already answered keep their results (and their bill); the others end `canceled`."""
        with sdk_errors_as_llm_errors():
            raw = await self._sdk.with_raw_response.cancel(batch_id)
            return _status(await raw.parse(), raw.headers)

    async def created_since(self, since: datetime) -> list[ListedBatch]:
        """The workspace's batches created at `since` or later, the most recent first (the order the API lists
        them in, so the pages stop at the first older one)."""
        found: list[ListedBatch] = []
        with sdk_errors_as_llm_errors():
            async for batch in self._sdk.list(limit=_LIST_PAGE):
                if batch.created_at < since:
                    break
                found.append(_listed(batch))
        return found

    async def first_custom_id(self, batch_id: str) -> str | None:
        """The custom id of an ended batch's first result line (None if it has none); the rest is not read."""
        with sdk_errors_as_llm_errors():
            lines = await self._sdk.results(batch_id)
            try:
                async for line in lines:
                    return line.custom_id
            finally:
                await lines.close()
        return None

    async def results(self, batch_id: str, max_tokens: Mapping[str, int]) -> AsyncIterator[BatchOutcome]:
        """Each line of an ended batch, in the order the API sends them (not the request order);
        `max_tokens` by custom id says what a truncated answer was allowed."""
        with sdk_errors_as_llm_errors():
            lines = await self._sdk.results(batch_id)
            simulated = lines.http_response.headers.get(SIMULATED_HEADER) == "true"
            async for line in lines:
                yield _outcome(line, max_tokens.get(line.custom_id, 0), simulated=simulated)


def _outcome(line: MessageBatchIndividualResponse, max_tokens: int, *, simulated: bool) -> BatchOutcome:
    result = line.result
    if result.type == "succeeded":
        try:
            completion = completion_of(result.message.model_dump(), max_tokens, simulated=simulated, requests=1)
        except LlmError as failure:
            return BatchOutcome(line.custom_id, None, failure)
        return BatchOutcome(line.custom_id, completion, None)
    if result.type == "errored":
        error = result.error.error
        return BatchOutcome(line.custom_id, None, error_of_type(error.type, f"in a batch: {error.message}"))
    return BatchOutcome(line.custom_id, None, _NOT_ANSWERED[result.type])
