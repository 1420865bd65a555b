"""The Claude client against the strict stand-in, through the real SDK: what it sends, and every way a call
can fail after or before the 200 (error events, dropped connections, truncation, refusals, deadlines,
long retry-after, spend limits, every stop reason)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS, shared_output_schema
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest, Usage, answer_text, retry_after_s
from dealgraph.config import Settings
from dealgraph.prompts.request import retry_messages
from dealgraph.standin import RunningStandin
from tests.support import StandinControl

AGENT = AGENTS[AgentKind.MEDDPICC]
LINES = "\n".join(f"[{n} 00:{n:02d}] Ana Ruiz: Our budget for the pilot is {n} thousand dollars." for n in range(40))


def structured(model: str = "claude-sonnet-5-5", max_tokens: int = 4096) -> StructuredRequest:
    return StructuredRequest(
        model=model,
        max_tokens=max_tokens,
        effort="high",
        system=[
            {"type": "text", "text": "Analyse the call."},
            {"type": "text", "text": LINES, "cache_control": {"type": "ephemeral"}},
        ],
        messages=[{"role": "user", "content": "Qualify the deal."}],
        schema=AGENT.output_schema,
    )


def client(standin_server: RunningStandin, **overrides: Any) -> LlmClient:
    values: dict[str, Any] = {
        "anthropic_api_key": "test-key",
        "anthropic_base_url": standin_server.base_url,
        "llm_max_retries": 2,
        "llm_timeout_s": 10.0,
    }
    return LlmClient(Settings(**(values | overrides)))


async def ignore(_: int) -> None:
    return None


async def complete(llm: LlmClient, request: StructuredRequest | None = None) -> Any:
    try:
        return await llm.complete(request or structured(), on_progress=ignore)
    finally:
        await llm.close()


def test_agents_ask_for_structured_outputs_and_never_force_a_tool() -> None:
    params = structured().params()
    assert "tool_choice" not in params and "tools" not in params and "thinking" not in params
    assert params["output_config"] == {
        "effort": "high",
        "format": {"type": "json_schema", "schema": AGENT.output_schema},
    }
    assert AGENT.output_schema["additionalProperties"] is False and AGENT.output_schema["title"] == "meddpicc"


@pytest.mark.parametrize("model", ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"])
async def test_every_model_accepts_the_agents_request(
    standin_server: RunningStandin, standin: StandinControl, model: str
) -> None:
    completion = await complete(client(standin_server), structured(model))
    AGENT.output_model.model_validate_json(completion.text)
    assert completion.content[0]["type"] == "thinking" and completion.usage.thinking_tokens > 0
    assert completion.requests == 1 and completion.simulated


@pytest.mark.parametrize("fault", ["overloaded_error", "api_error"])
async def test_an_error_event_after_the_200_is_retried_like_the_same_error(
    standin_server: RunningStandin, standin: StandinControl, fault: str
) -> None:
    await standin.behave("meddpicc", stream_faults=[fault])
    completion = await complete(client(standin_server))
    assert completion.requests == 2
    assert await standin.statuses("meddpicc") == [200, 200]


async def test_a_non_retryable_error_event_fails_at_once(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", stream_faults=["invalid_request_error"])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == "BAD_REQUEST" and caught.value.message.startswith("mid-stream:")
    assert await standin.statuses("meddpicc") == [200]


async def test_a_connection_dropped_mid_stream_is_retried(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", stream_faults=["drop"])
    completion = await complete(client(standin_server))
    assert completion.requests == 2


async def test_dropped_every_time_fails_as_connection_failed(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", stream_faults=["drop", "drop", "drop"])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == "CONNECTION_FAILED" and caught.value.retryable
    assert len(await standin.statuses("meddpicc")) == 3  # the first try and two retries


async def test_max_tokens_stop_is_output_truncated_with_the_limit(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", stops=["max_tokens"])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server), structured(max_tokens=3000))
    assert caught.value.code == "OUTPUT_TRUNCATED" and "all 3000 output tokens" in caught.value.message
    assert not caught.value.retryable and len(await standin.statuses("meddpicc")) == 1


async def test_refusal_stop_is_refused_with_its_stop_details(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", stops=["refusal"])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == "REFUSED" and not caught.value.retryable
    assert "category: general_harms" in caught.value.message and "Simulated refusal" in caught.value.message


@pytest.mark.parametrize(
    ("stop", "code"),
    [
        ("pause_turn", "TURN_PAUSED"),
        ("tool_use", "UNEXPECTED_TOOL_USE"),
        ("stop_sequence", "STOP_SEQUENCE"),
        ("model_context_window_exceeded", "CONTEXT_TOO_LONG"),
    ],
)
async def test_every_other_stop_reason_is_a_failure_that_names_it(
    standin_server: RunningStandin, standin: StandinControl, stop: str, code: str
) -> None:
    await standin.behave("meddpicc", stops=[stop])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == code and not caught.value.retryable and caught.value.usage.output_tokens > 0
    assert len(await standin.statuses("meddpicc")) == 1


def test_an_unknown_stop_reason_is_a_failure_too() -> None:
    message = {"stop_reason": "some_future_reason", "content": [{"type": "text", "text": "{}"}]}
    with pytest.raises(LlmError) as caught:
        answer_text(message, 4096, Usage(output_tokens=7))
    assert caught.value.code == "UNKNOWN_STOP_REASON" and "some_future_reason" in caught.value.message
    assert caught.value.usage.output_tokens == 7


def test_retry_after_is_read_in_seconds_milliseconds_or_as_an_http_date() -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 28 <= (retry_after_s({"retry-after": later}) or 0) <= 30
    assert retry_after_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # already past: now
    assert retry_after_s({"retry-after": "7"}) == 7.0 and retry_after_s({"retry-after-ms": "250"}) == 0.25
    assert retry_after_s({"retry-after": "soon"}) is None and retry_after_s({}) is None


@pytest.mark.parametrize(("limit", "status"), [("workspace", 400), ("tier", 429)])
async def test_a_spend_limit_is_not_retried(
    standin_server: RunningStandin, standin: StandinControl, limit: str, status: int
) -> None:
    """Neither the workspace limit's 400 nor the tier cap's 429 (no retry-after, x-should-retry: true) can
    succeed before the date they name."""
    await standin.behave("meddpicc", spend_limit=limit)
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == "SPEND_LIMIT_REACHED" and not caught.value.retryable
    assert "regain access" in caught.value.message or "resumes" in caught.value.message
    assert await standin.statuses("meddpicc") == [status]


async def test_a_trickling_stream_is_cut_at_the_overall_cap_and_billed(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    """The stream keeps trickling deltas, so no idle timeout fires; the overall cap does, and is not retried
    (a second try would take as long and be billed again). What message_start reported is billed."""
    await standin.behave("meddpicc", latency_s=5.0)
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server, llm_timeout_s=0.5, llm_timeout_s_per_1k_tokens=0))
    assert caught.value.code == "TIMEOUT" and "overall 0.5 s" in caught.value.message and not caught.value.retryable
    assert caught.value.usage.cache_write_tokens > 0 and caught.value.usage.output_tokens > 0
    assert await standin.statuses("meddpicc") == [200]


async def test_a_long_answer_is_not_cut_for_being_long(standin_server: RunningStandin, standin: StandinControl) -> None:
    """The overall cap grows with max_tokens (as the SDK's own estimate does): 16,000 tokens at the defaults
    are 120 + 450 s, where the fixed 120 s alone cut answers that were still streaming."""
    assert client(standin_server, llm_timeout_s=120.0).overall_timeout_s(16_000) == 570.0
    await standin.behave("meddpicc", latency_s=1.5)
    llm = client(standin_server, llm_timeout_s=0.5, llm_timeout_s_per_1k_tokens=1.0, llm_idle_timeout_s=1.0)
    completion = await complete(llm)
    assert completion.requests == 1 and completion.stop_reason == "end_turn"


async def test_a_response_that_does_not_start_times_out_at_the_first_byte_deadline(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", prefill_s_per_1k_tokens=100.0)  # message_start a minute away
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server, llm_first_byte_timeout_s=0.3, llm_max_retries=1))
    assert caught.value.code == "TIMEOUT" and "did not start within 0.3 s" in caught.value.message
    assert caught.value.retryable and caught.value.usage == Usage()  # nothing was reported, nothing billed
    assert await standin.statuses("meddpicc") == [200, 200]


async def test_a_stream_that_falls_silent_times_out_and_is_billed_what_it_reported(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    """A held answer stops just before message_delta: the idle timeout fires, and the attempt is billed the
    input message_start reported and the output so far, as a broken stream is."""
    await standin.behave("meddpicc", held=True)
    try:
        with pytest.raises(LlmError) as caught:
            await complete(client(standin_server, llm_idle_timeout_s=0.3, llm_max_retries=0))
    finally:
        await standin.release("meddpicc")
    assert caught.value.code == "TIMEOUT" and "fell silent for 0.3 s" in caught.value.message
    assert caught.value.retryable
    assert caught.value.usage.input_tokens > 0 and caught.value.usage.cache_write_tokens > 0


async def test_retry_after_within_the_cap_is_honoured(standin_server: RunningStandin, standin: StandinControl) -> None:
    await standin.behave("meddpicc", failures=[429], retry_after_s=0.2)
    completion = await complete(client(standin_server))
    assert completion.requests == 2


async def test_retry_after_beyond_the_cap_fails_saying_when_to_retry(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    await standin.behave("meddpicc", failures=[429], retry_after_s=120)
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server, llm_max_retry_after_s=30))
    assert caught.value.code == "RATE_LIMITED" and caught.value.retry_after == 120
    assert (
        "retry after 120 s (at 20" in caught.value.message
        and "DEALGRAPH_LLM_MAX_RETRY_AFTER_S=30" in caught.value.message
    )
    assert len(await standin.statuses("meddpicc")) == 1  # it did not sleep and try again


async def test_thinking_blocks_go_back_intact_in_the_retry_turn(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    llm = client(standin_server)
    try:
        first = await llm.complete(structured(), on_progress=ignore)
        retry = replace(structured(), messages=retry_messages(structured(), first.content, ["x: too long"]))
        assert retry.messages[1] == {"role": "assistant", "content": first.content}
        second = await llm.complete(retry, on_progress=ignore)  # the stand-in verifies every signature
        assert second.requests == 1
        tampered = json.loads(json.dumps(first.content))
        tampered[0]["thinking"] = "edited"
        bad = replace(structured(), messages=retry_messages(structured(), tampered, ["x: too long"]))
        with pytest.raises(LlmError) as caught:
            await llm.complete(bad, on_progress=ignore)
        assert caught.value.code == "BAD_REQUEST" and "Invalid `signature`" in caught.value.message
    finally:
        await llm.close()


async def test_the_retry_turn_leaves_blank_text_blocks_out(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    """The API refuses a whitespace-only text block with a 400, so the retry drops it (and the stand-in
    refuses it as the API does); thinking blocks stay, and an answer left with nothing is not sent back."""
    llm = client(standin_server)
    try:
        first = await llm.complete(structured(), on_progress=ignore)
        answer = [*first.content, {"type": "text", "text": " \n"}]
        retry = replace(structured(), messages=retry_messages(structured(), answer, ["x: too long"]))
        assert retry.messages[1] == {"role": "assistant", "content": first.content}
        assert (await llm.complete(retry, on_progress=ignore)).requests == 1
        blank = retry_messages(structured(), [{"type": "text", "text": "\t"}], ["x: too long"])
        assert [message["role"] for message in blank] == ["user", "user"]
    finally:
        await llm.close()


async def test_failed_attempts_are_billed_too(standin_server: RunningStandin, standin: StandinControl) -> None:
    """A stream that broke after message_start was billed for its input (here: writing the cache entry that
    the retry then reads); a truncated answer for all its output."""
    await standin.behave("meddpicc", stream_faults=["overloaded_error"])
    completion = await complete(client(standin_server))
    assert completion.requests == 2
    assert completion.usage.cache_write_tokens > 0 and completion.usage.cache_read_tokens > 0
    await standin.behave("meddpicc", stops=["max_tokens"])
    with pytest.raises(LlmError) as caught:
        await complete(client(standin_server))
    assert caught.value.code == "OUTPUT_TRUNCATED" and caught.value.usage.output_tokens > 0


async def test_a_shared_schema_answer_is_under_the_agents_key(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    request = replace(
        structured(),
        schema=shared_output_schema(),
        answer_key="meddpicc",
        messages=[
            {
                "role": "user",
                "content": "Put your answer under the `meddpicc` key of the JSON object "
                "and set every other key to null.",
            }
        ],
    )
    completion = await complete(client(standin_server), request)
    answer = json.loads(completion.text)
    assert set(answer) == {kind.value for kind in AgentKind}
    assert answer["meddpicc"] is not None and [key for key, value in answer.items() if value is not None] == [
        "meddpicc"
    ]
    assert await standin.statuses("meddpicc") == [200]  # the stand-in tells the agent by the instruction


@asynccontextmanager
async def dropping_first_connection(upstream: str) -> AsyncIterator[str]:
    """A base URL whose first connection is closed once its request arrives (as a kept-alive connection the
    server had just closed looks to the client), and whose later ones reach `upstream`."""
    target = httpx.URL(upstream)
    accepted = 0

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with suppress(ConnectionError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal accepted
        accepted += 1
        if accepted == 1:
            await reader.read(1)
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(target.host, target.port)
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_count_tokens_is_retried_through_a_dropped_connection(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    async with dropping_first_connection(standin_server.base_url) as base_url:
        llm = client(standin_server, anthropic_base_url=base_url)
        try:
            tokens, simulated = await llm.count_tokens(structured())
        finally:
            await llm.close()
    assert tokens > 0 and simulated
    assert await standin.token_counts(AGENT.kind.value) == 1  # the dropped attempt never reached it
    async with dropping_first_connection(standin_server.base_url) as base_url:
        with_no_retries = client(standin_server, anthropic_base_url=base_url, llm_max_retries=0)
        try:
            with pytest.raises(LlmError) as refused:
                await with_no_retries.count_tokens(structured())
        finally:
            await with_no_retries.close()
    assert refused.value.code == "CONNECTION_FAILED"
