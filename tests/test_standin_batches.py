"""One test per Message Batches rule (cited in `dealgraph/standin/batches.py`), through the real SDK's
`client.messages.batches`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types.messages import MessageBatch, MessageBatchIndividualResponse

from dealgraph.standin import StandinConfig, start_standin_in_thread
from dealgraph.standin import app as standin_app
from tests.support import StandinControl, standin_sdk, wait_for

TRANSCRIPT = "[0 00:01] Ana Ruiz: Our budget is fifty thousand.\n[1 00:09] Ben Kim: Legal reviews every contract."


def params(agent: str = "probe", **overrides: Any) -> dict[str, Any]:
    """A request answered by the stand-in's behaviour for `agent` (the output schema's title names it)."""
    schema = {
        "type": "object",
        "title": agent,
        "properties": {"summary": {"type": "string"}},
        "required": ["summary"],
        "additionalProperties": False,
    }
    return {
        "model": "claude-sonnet-5-5",
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": TRANSCRIPT}],
        "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": schema}},
    } | overrides


def requests_for(*custom_ids: str, **overrides: Any) -> list[Any]:
    return [{"custom_id": custom_id, "params": params(**overrides)} for custom_id in custom_ids]


async def ended(sdk: anthropic.AsyncAnthropic, batch_id: str) -> MessageBatch:
    async def poll() -> MessageBatch | None:
        batch = await sdk.messages.batches.retrieve(batch_id)
        return batch if batch.processing_status == "ended" else None

    batch: MessageBatch = await wait_for(poll)
    return batch


async def results(sdk: anthropic.AsyncAnthropic, batch_id: str) -> dict[str, MessageBatchIndividualResponse]:
    return {line.custom_id: line async for line in await sdk.messages.batches.results(batch_id)}


async def refused_create(sdk: anthropic.AsyncAnthropic, status: int, **extra: Any) -> str:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await sdk.messages.batches.create(**extra)
    assert caught.value.status_code == status and isinstance(caught.value.body, dict)
    return str(caught.value.body["error"]["message"])


@asynccontextmanager
async def standin_with(config: StandinConfig) -> AsyncIterator[tuple[anthropic.AsyncAnthropic, StandinControl]]:
    """A stand-in of its own, for the rules whose clock (24 h, 29 days) the test shortens."""
    with start_standin_in_thread(config) as server:
        async with standin_sdk(server.base_url) as sdk:
            yield sdk, StandinControl(server.base_url)


async def test_a_batch_answers_every_request_matched_by_custom_id_at_the_batch_tier(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    ids = [f"call-{n}" for n in range(8)]
    created = await sdk.messages.batches.create(requests=requests_for(*ids))
    assert created.id.startswith("msgbatch_") and created.processing_status == "in_progress"
    assert created.results_url is None and created.expires_at > created.created_at
    batch = await ended(sdk, created.id)
    assert batch.request_counts.succeeded == 8 and batch.request_counts.processing == 0 and batch.ended_at
    by_id = await results(sdk, created.id)
    assert sorted(by_id) == sorted(ids)
    for line in by_id.values():
        assert line.result.type == "succeeded"
        assert line.result.message.usage.service_tier == "batch"
        assert '"summary"' in next(block.text for block in line.result.message.content if block.type == "text")


async def test_results_come_in_any_order(sdk: anthropic.AsyncAnthropic) -> None:
    ids = [f"r{n:02d}" for n in range(30)]
    created = await sdk.messages.batches.create(requests=requests_for(*ids))
    await ended(sdk, created.id)
    order = [line.custom_id async for line in await sdk.messages.batches.results(created.id)]
    assert sorted(order) == ids and order != ids


async def test_request_counts_stay_processing_until_the_whole_batch_ends(
    sdk: anthropic.AsyncAnthropic, own_standin: StandinControl
) -> None:
    await own_standin.behave("slow", held=True)
    created = await sdk.messages.batches.create(
        requests=[*requests_for("quick"), {"custom_id": "slow", "params": params("slow")}]
    )
    await wait_for(lambda: own_standin.statuses("probe"))  # the quick request has been answered
    batch = await sdk.messages.batches.retrieve(created.id)
    assert batch.processing_status == "in_progress"
    assert (batch.request_counts.processing, batch.request_counts.succeeded) == (2, 0)
    await own_standin.release("slow")
    batch = await ended(sdk, created.id)
    assert (batch.request_counts.processing, batch.request_counts.succeeded) == (0, 2)


@pytest.mark.parametrize("custom_id", ["", "has space", "x" * 65, "call/7"])
async def test_custom_id_must_match_the_pattern(sdk: anthropic.AsyncAnthropic, custom_id: str) -> None:
    message = await refused_create(sdk, 400, requests=requests_for(custom_id))
    assert message.startswith("requests.0.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'")


async def test_custom_id_must_be_unique_within_a_batch(sdk: anthropic.AsyncAnthropic) -> None:
    message = await refused_create(sdk, 400, requests=requests_for("a", "b", "a"))
    assert message.startswith("requests.2.custom_id: 'a' is already used")
    first = await sdk.messages.batches.create(requests=requests_for("a"))
    second = await sdk.messages.batches.create(requests=requests_for("a"))  # across batches it may repeat
    assert first.id != second.id


async def test_a_batch_holds_one_to_100000_requests(sdk: anthropic.AsyncAnthropic) -> None:
    message = await refused_create(sdk, 400, requests=[])
    assert message == "requests: List should have at least 1 item after validation, not 0"
    tiny = [{"custom_id": f"c{n}", "params": {}} for n in range(100_001)]
    message = await refused_create(sdk, 400, requests=[], extra_body={"requests": tiny})
    assert message.startswith("requests: List should have at most 100000 items")


async def test_a_batch_over_256_mb_is_too_large(sdk: anthropic.AsyncAnthropic, monkeypatch: pytest.MonkeyPatch) -> None:
    assert standin_app.MAX_BATCH_BYTES == 256 * 1024 * 1024
    monkeypatch.setattr(standin_app, "MAX_BATCH_BYTES", 4096)  # the same rule, without sending 256 MB
    with pytest.raises(anthropic.APIStatusError) as caught:
        await sdk.messages.batches.create(requests=requests_for(*(f"c{n}" for n in range(20))))
    assert caught.value.status_code == 413 and caught.value.type == "request_too_large"
    await sdk.messages.batches.create(requests=requests_for("c0"))


async def test_invalid_params_are_errored_results_not_a_failed_create(sdk: anthropic.AsyncAnthropic) -> None:
    created = await sdk.messages.batches.create(
        requests=[
            *requests_for("fine"),
            *requests_for("streams", stream=True),
            *requests_for("prewarm", max_tokens=0, output_config={"effort": "medium"}),
            *requests_for("unknown-field", temperature_scale=2),
            *requests_for("unknown-model", model="gpt-4o"),
        ]
    )
    batch = await ended(sdk, created.id)
    assert (batch.request_counts.succeeded, batch.request_counts.errored) == (1, 4)
    by_id = await results(sdk, created.id)
    assert by_id["fine"].result.type == "succeeded"
    errors = {}
    for custom_id, line in by_id.items():
        if line.result.type == "errored":
            errors[custom_id] = (line.result.error.error.type, line.result.error.error.message)
    assert errors == {
        "streams": ("invalid_request_error", "stream: streaming is not supported in a Message Batch"),
        "prewarm": (
            "invalid_request_error",
            "max_tokens: 0 (cache pre-warming) is not supported in a Message Batch; use at least 1",
        ),
        "unknown-field": ("invalid_request_error", "temperature_scale: Extra inputs are not permitted"),
        "unknown-model": ("not_found_error", "model: gpt-4o"),
    }


async def test_a_scripted_failure_is_an_errored_result(
    sdk: anthropic.AsyncAnthropic, own_standin: StandinControl
) -> None:
    await own_standin.behave("probe", failures=[529])
    created = await sdk.messages.batches.create(requests=requests_for("first"))
    await ended(sdk, created.id)
    line = (await results(sdk, created.id))["first"]
    assert line.result.type == "errored" and line.result.error.error.type == "overloaded_error"


async def test_cancel_ends_unfinished_requests_as_canceled(
    sdk: anthropic.AsyncAnthropic, own_standin: StandinControl
) -> None:
    await own_standin.behave("slow", held=True)
    created = await sdk.messages.batches.create(
        requests=[*requests_for("quick"), {"custom_id": "slow", "params": params("slow")}]
    )
    await wait_for(lambda: own_standin.statuses("probe"))
    canceling = await sdk.messages.batches.cancel(created.id)
    assert canceling.processing_status == "canceling" and canceling.cancel_initiated_at is not None
    batch = await ended(sdk, created.id)
    assert (batch.request_counts.succeeded, batch.request_counts.canceled) == (1, 1)
    by_id = await results(sdk, created.id)
    assert (by_id["quick"].result.type, by_id["slow"].result.type) == ("succeeded", "canceled")
    again = await sdk.messages.batches.cancel(created.id)  # an ended batch stays as it ended
    assert again.processing_status == "ended"


async def test_unfinished_requests_expire_24_hours_after_creation() -> None:
    async with standin_with(StandinConfig(batch_expiry_s=0.5)) as (sdk, control):
        await control.behave("slow", held=True)
        created = await sdk.messages.batches.create(
            requests=[*requests_for("quick"), {"custom_id": "slow", "params": params("slow")}]
        )
        assert (created.expires_at - created.created_at).total_seconds() == pytest.approx(0.5)
        batch = await ended(sdk, created.id)
        assert (batch.request_counts.succeeded, batch.request_counts.expired) == (1, 1)
        by_id = await results(sdk, created.id)
        assert by_id["slow"].result.type == "expired"
    assert StandinConfig().batch_expiry_s == 24 * 3600


async def test_results_are_kept_29_days_then_archived() -> None:
    async with standin_with(StandinConfig(batch_results_kept_s=0.3)) as (sdk, _):
        created = await sdk.messages.batches.create(requests=requests_for("only"))
        archived = await wait_for(lambda: _archived(sdk, created.id))  # the batch itself stays visible
        assert archived.processing_status == "ended" and archived.archived_at is not None
        with pytest.raises(anthropic.NotFoundError):
            await sdk.messages.batches.results(created.id)
    assert StandinConfig().batch_results_kept_s == 29 * 24 * 3600


async def _archived(sdk: anthropic.AsyncAnthropic, batch_id: str) -> MessageBatch | None:
    batch = await sdk.messages.batches.retrieve(batch_id)
    return batch if batch.archived_at is not None else None


async def test_results_exist_only_once_the_batch_has_ended(
    sdk: anthropic.AsyncAnthropic, own_standin: StandinControl
) -> None:
    await own_standin.behave("probe", held=True)
    created = await sdk.messages.batches.create(requests=requests_for("held"))
    with pytest.raises(anthropic.BadRequestError):  # the SDK checks results_url first; a raw client gets a 400
        await sdk.get(f"/v1/messages/batches/{created.id}/results", cast_to=httpx.Response)
    await own_standin.release("probe")
    await ended(sdk, created.id)
    assert "held" in await results(sdk, created.id)


async def test_only_an_ended_batch_can_be_deleted(sdk: anthropic.AsyncAnthropic, own_standin: StandinControl) -> None:
    await own_standin.behave("probe", held=True)
    created = await sdk.messages.batches.create(requests=requests_for("held"))
    with pytest.raises(anthropic.BadRequestError):
        await sdk.messages.batches.delete(created.id)
    await sdk.messages.batches.cancel(created.id)
    await ended(sdk, created.id)
    deleted = await sdk.messages.batches.delete(created.id)
    assert deleted.id == created.id and deleted.type == "message_batch_deleted"
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.batches.retrieve(created.id)


async def created_batches(sdk: anthropic.AsyncAnthropic, count: int) -> list[str]:
    """The ids of `count` new batches, the most recent first (as they are listed)."""
    return [(await sdk.messages.batches.create(requests=requests_for("c"))).id for _ in range(count)][::-1]


async def test_list_returns_the_most_recent_first_in_pages(sdk: anthropic.AsyncAnthropic) -> None:
    newest_first = await created_batches(sdk, 5)
    first_page = await sdk.messages.batches.list(limit=2)
    assert [batch.id for batch in first_page.data] == newest_first[:2] and first_page.has_more
    assert (first_page.first_id, first_page.last_id) == (newest_first[0], newest_first[1])
    assert [batch.id async for batch in sdk.messages.batches.list(limit=2)] == newest_first  # after_id: last_id


async def test_list_pages_after_and_before_an_id(sdk: anthropic.AsyncAnthropic) -> None:
    newest_first = await created_batches(sdk, 5)
    after = await sdk.messages.batches.list(limit=2, after_id=newest_first[1])  # the older ones
    assert [batch.id for batch in after.data] == newest_first[2:4] and after.has_more
    last = await sdk.messages.batches.list(limit=2, after_id=newest_first[3])
    assert [batch.id for batch in last.data] == newest_first[4:] and not last.has_more
    before = await sdk.messages.batches.list(limit=2, before_id=newest_first[3])  # the more recent ones
    assert [batch.id for batch in before.data] == newest_first[1:3] and before.has_more
    assert (before.first_id, before.last_id) == (newest_first[1], newest_first[2])
    first = await sdk.messages.batches.list(limit=2, before_id=newest_first[1])
    assert [batch.id for batch in first.data] == newest_first[:1] and not first.has_more


async def test_list_limit_is_1_to_1000_and_20_by_default(sdk: anthropic.AsyncAnthropic) -> None:
    for limit in (0, 1001):
        with pytest.raises(anthropic.BadRequestError) as caught:
            await sdk.messages.batches.list(limit=limit)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["error"]["message"] == "limit: Input should be between 1 and 1000"
    newest_first = await created_batches(sdk, 21)
    page = await sdk.messages.batches.list()
    assert [batch.id for batch in page.data] == newest_first[:20] and page.has_more


async def test_an_unknown_batch_is_not_found(sdk: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.batches.retrieve("msgbatch_01missing")
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.batches.cancel("msgbatch_01missing")
