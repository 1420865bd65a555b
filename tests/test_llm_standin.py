"""The stand-in must satisfy the real `anthropic` SDK over HTTP, so every test drives the unpatched SDK."""

from __future__ import annotations

import json
import time
from datetime import date
from enum import StrEnum
from typing import Any, Literal

import anthropic
import httpx
import pytest
from pydantic import BaseModel, Field, ValidationError

from dealgraph.claude.tokens import estimate_tokens
from dealgraph.standin import SIMULATED_HEADER, StandinConfig, start_standin_in_thread, synthesize
from tests.support import StandinControl, standin_sdk

TRANSCRIPT = """\
[0 00:05] Alice Chen: Thanks for making time today, Raj. I know quarter end is hectic for your team.
[1 00:14] Raj Patel: No problem. Honestly we need to sort out forecasting before the board meeting in March.
[2 00:31] Alice Chen: Understood. Can you walk me through how your reps update the pipeline today?
[3 00:45] Raj Patel: Mostly spreadsheets. Every Friday my managers chase reps for numbers.
[4 01:10] Maria Lopez: From the ops side, the bigger issue is that nobody trusts the close dates.
[5 01:26] Alice Chen: That is exactly what our deal inspection view is for. It flags stale close dates automatically.
[6 01:48] Raj Patel: The price you sent over is about thirty percent above what we budgeted, though.
[7 02:05] Maria Lopez: We are also looking at Clari, so we need to see a clear difference.
[8 02:22] Alice Chen: Fair. I can set up a pilot with two of your teams so you can compare side by side.
[9 02:40] Raj Patel: A pilot works. Send me a proposal by Friday and I will loop in our CFO.
"""
LINES = [line.split("] ", 1)[1].split(": ", 1) for line in TRANSCRIPT.splitlines()]
SPEAKERS = {speaker for speaker, _ in LINES}


class Sentiment(StrEnum):
    POSITIVE = "positive"
    NEUTRAL = "neutral"
    NEGATIVE = "negative"


class Evidence(BaseModel):
    quote: str
    speaker: str
    utterance_index: int = Field(ge=0)


class Objection(BaseModel):
    category: Literal["price", "timing", "competition", "authority"]
    summary: str
    severity: int = Field(ge=1, le=5)
    evidence: list[Evidence] = Field(min_length=1, max_length=3)
    resolved: bool | None = None


class NextStep(BaseModel):
    description: str
    owner: str
    due_date: date | None = None


class CallAnalysis(BaseModel):
    summary: str
    sentiment: Sentiment
    confidence: float = Field(ge=0, le=1)
    objections: list[Objection] = Field(min_length=1)
    next_steps: list[NextStep] = Field(default_factory=list)
    competitor: str | None = None


AGENT = "record_call_analysis"
TOOL = {
    "name": AGENT,
    "description": "Record the structured analysis of a sales call.",
    "input_schema": CallAnalysis.model_json_schema(),
}
MODEL = "claude-haiku-5-5"
"""The one model that accepts a forced tool choice, with thinking off (see tests/test_standin_rules.py)."""
NO_THINKING = {"type": "disabled"}


def _request(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "model": MODEL,
        "max_tokens": 2048,
        "system": "You analyse sales calls. Cite evidence verbatim.",
        "messages": [{"role": "user", "content": f"Transcript:\n{TRANSCRIPT}"}],
        "tools": [TOOL],
        "tool_choice": {"type": "tool", "name": AGENT},
        "thinking": NO_THINKING,
    }
    return base | overrides


def _assert_grounded(analysis: CallAnalysis) -> None:
    evidence = [item for objection in analysis.objections for item in objection.evidence]
    for item in evidence:
        speaker, text = LINES[item.utterance_index]
        assert item.quote in text
        assert item.speaker == speaker
    assert {step.owner for step in analysis.next_steps} <= SPEAKERS
    assert analysis.summary.startswith("[simulated] ")
    assert 0.55 <= analysis.confidence <= 0.95


async def test_forced_tool_call_is_schema_valid_and_grounded(sdk: anthropic.AsyncAnthropic) -> None:
    raw = await sdk.messages.with_raw_response.create(**_request())
    message = await raw.parse()

    assert raw.headers[SIMULATED_HEADER] == "true"
    assert raw.headers["request-id"].startswith("req_")
    assert message.id.startswith("msg_") and message.model == MODEL
    assert message.stop_reason == "tool_use" and message.stop_sequence is None
    [block] = message.content
    assert block.type == "tool_use" and block.name == AGENT and block.id.startswith("toolu_")
    _assert_grounded(CallAnalysis.model_validate(block.input))
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


async def test_stream_accumulates_into_final_message(sdk: anthropic.AsyncAnthropic) -> None:
    async with sdk.messages.stream(**_request()) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()

    kinds = [event.type for event in events]
    assert kinds[0] == "message_start" and kinds[-1] == "message_stop"
    assert kinds.index("content_block_start") < kinds.index("input_json") < kinds.index("content_block_stop")
    assert kinds.index("content_block_stop") < kinds.index("message_delta")
    partial = "".join(event.partial_json for event in events if event.type == "input_json")
    assert kinds.count("input_json") > 2
    [block] = final.content
    assert block.type == "tool_use" and block.input == json.loads(partial)
    _assert_grounded(CallAnalysis.model_validate(block.input))
    assert final.stop_reason == "tool_use"
    assert final.usage.input_tokens > 0 and final.usage.output_tokens == estimate_tokens(len(partial))


async def test_sse_frames_match_the_wire_format(own_standin: StandinControl) -> None:
    url = f"{own_standin.base_url}/v1/messages"
    async with httpx.AsyncClient() as http, http.stream("POST", url, json=_request(stream=True)) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        frames = [frame async for frame in response.aiter_text()]
    blocks = [block for block in "".join(frames).split("\n\n") if block]
    names = []
    for block in blocks:
        event_line, data_line = block.split("\n")
        name = event_line.removeprefix("event: ")
        assert json.loads(data_line.removeprefix("data: "))["type"] == name
        names.append(name)
    assert names[:3] == ["message_start", "ping", "content_block_start"]
    assert names[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(names[3:-3]) == {"content_block_delta"}


async def test_same_prompt_gives_same_output(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**_request())
    second = await sdk.messages.create(**_request())

    assert first.content[0].input == second.content[0].input
    assert first.id != second.id


async def test_latency_is_spread_over_the_stream(own_standin: StandinControl, sdk: anthropic.AsyncAnthropic) -> None:
    await own_standin.behave(AGENT, latency_s=1.0)
    started = time.monotonic()
    first_delta: float | None = None
    async with sdk.messages.stream(**_request()) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and first_delta is None:
                first_delta = time.monotonic() - started
    total = time.monotonic() - started

    assert total >= 1.0
    # deltas are spread, not sent in a burst at the end: the first one arrives well before the last
    assert first_delta is not None and first_delta < total / 2


async def test_overloaded_then_success_with_one_retry(
    own_standin: StandinControl, sdk: anthropic.AsyncAnthropic
) -> None:
    await own_standin.behave(AGENT, failures=[529], retry_after_s=0.01)

    message = await sdk.with_options(max_retries=1).messages.create(**_request())

    assert message.stop_reason == "tool_use"
    assert await own_standin.statuses(AGENT) == [529, 200]


async def test_rate_limit_tells_when_to_retry(own_standin: StandinControl, sdk: anthropic.AsyncAnthropic) -> None:
    await own_standin.behave(AGENT, failures=[429], retry_after_s=0.02)

    with pytest.raises(anthropic.RateLimitError) as caught:
        await sdk.messages.create(**_request())

    error = caught.value
    assert error.response.headers["retry-after"] == "1"
    assert error.response.headers["retry-after-ms"] == "20"
    assert error.type == "rate_limit_error"
    assert isinstance(error.body, dict) and error.body["request_id"] == error.request_id


async def test_fail_always_raises_internal_server_error(
    own_standin: StandinControl, sdk: anthropic.AsyncAnthropic
) -> None:
    await own_standin.behave(AGENT, fail_always=500)

    with pytest.raises(anthropic.InternalServerError) as caught:
        await sdk.messages.create(**_request())

    assert caught.value.status_code == 500 and caught.value.type == "api_error"
    assert await own_standin.statuses(AGENT) == [500]


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"messages": []}, "messages"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"messages": [{"role": "system", "content": "hi"}]}, "messages.0.role"),
        ({"tool_choice": {"type": "tool", "name": "no_such_tool"}}, "no_such_tool"),
    ],
)
async def test_malformed_request_is_bad_request(
    sdk: anthropic.AsyncAnthropic, overrides: dict[str, Any], problem: str
) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        await sdk.messages.create(**_request(**overrides))

    assert caught.value.type == "invalid_request_error"
    assert problem in (caught.value.api_message or "")


async def test_missing_api_key_is_rejected_when_required() -> None:
    with start_standin_in_thread(StandinConfig(require_api_key=True)) as locked:
        async with standin_sdk(locked.base_url) as sdk:
            assert (await sdk.messages.create(**_request())).stop_reason == "tool_use"
            with pytest.raises(anthropic.AuthenticationError) as caught:
                await sdk.messages.create(**_request(), extra_headers={"Authorization": anthropic.omit})

    assert caught.value.type == "authentication_error"


async def test_invalid_output_is_returned_the_configured_number_of_times(
    own_standin: StandinControl, sdk: anthropic.AsyncAnthropic
) -> None:
    await own_standin.behave(AGENT, invalid_output_times=1)

    broken = await sdk.messages.create(**_request())
    fixed = await sdk.messages.create(**_request())

    with pytest.raises(ValidationError) as caught:
        CallAnalysis.model_validate(broken.content[0].input)
    assert [error["type"] for error in caught.value.errors()] == ["missing"]
    CallAnalysis.model_validate(fixed.content[0].input)


async def test_count_tokens_agrees_with_message_usage(sdk: anthropic.AsyncAnthropic) -> None:
    prompt = _request()
    counted = await sdk.messages.count_tokens(
        model=MODEL, system=prompt["system"], messages=prompt["messages"], tools=prompt["tools"]
    )
    message = await sdk.messages.create(**prompt)

    assert counted.input_tokens > len(TRANSCRIPT) // 4
    assert counted.input_tokens == message.usage.input_tokens


async def test_cached_system_block_is_created_then_read(sdk: anthropic.AsyncAnthropic) -> None:
    system = [{"type": "text", "text": f"Playbook:\n{TRANSCRIPT}", "cache_control": {"type": "ephemeral"}}]

    first = await sdk.messages.create(**_request(system=system))
    second = await sdk.messages.create(**_request(system=system))

    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.input_tokens == first.usage.input_tokens


async def test_text_reply_says_it_is_simulated(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(
        model=MODEL, max_tokens=512, messages=_request()["messages"], thinking=NO_THINKING
    )

    [block] = message.content
    assert block.type == "text" and "simulated output from the dealgraph" in block.text
    assert message.stop_reason == "end_turn"


async def test_max_tokens_cuts_the_output(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(**_request(max_tokens=5))

    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 5


def test_synthesis_without_transcript_is_still_schema_valid() -> None:
    value = synthesize(CallAnalysis.model_json_schema(), [], name=AGENT)

    assert CallAnalysis.model_validate(value).summary.startswith("[simulated] ")
