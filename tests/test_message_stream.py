"""MessageStream folds a Messages API stream into the same Message the SDK's own stream helper builds.

Parity is checked against `anthropic.lib.streaming._messages.accumulate_event` (what `messages.stream()`
runs) on the same events: streams the stand-in sends for real requests, and hand-written ones for what the
stand-in never sends (tool input, citations, usage a message_delta leaves out)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import RawMessageStreamEvent

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS
from dealgraph.claude.client import StructuredRequest
from dealgraph.claude.stream import MessageStream, StreamError
from dealgraph.standin import RunningStandin
from tests.support import server_client

START = {
    "type": "message_start",
    "message": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-5-5",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {
            "input_tokens": 120,
            "cache_creation_input_tokens": 30,
            "cache_read_input_tokens": 0,
            "output_tokens": 1,
        },
    },
}


def sdk_message(events: list[dict[str, Any]]) -> dict[str, Any]:
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for event in events:
        if event["type"] in ("ping", "message_stop"):
            continue
        typed = anthropic._models.construct_type(type_=RawMessageStreamEvent, value=event)
        snapshot = accumulate_event(event=typed, current_snapshot=snapshot, json_bufs=json_bufs)  # type: ignore[arg-type]
    assert snapshot is not None
    return anthropic.types.Message.construct(**snapshot.to_dict()).model_dump(mode="json")


def ours(events: list[dict[str, Any]]) -> dict[str, Any]:
    stream = MessageStream()
    for event in events:
        stream.add(event["type"], json.dumps(event))
    return anthropic.types.Message.construct(**stream.final()).model_dump(mode="json")


def sse_events(body: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[len(b"data: ") :]) for line in body.splitlines() if line.startswith(b"data: ")]


async def test_a_stand_in_stream_builds_the_message_the_sdk_helper_builds(standin_server: RunningStandin) -> None:
    """Thinking (with its signature) and a JSON text answer, in 16-48 character deltas, as a request sends them."""
    request = StructuredRequest(
        model="claude-sonnet-5-5",
        max_tokens=4096,
        effort="high",
        system=[{"type": "text", "text": "Analyse the call.\n[0 00:00] Ana Ruiz: Our budget is 40 thousand dollars."}],
        messages=[{"role": "user", "content": "Qualify the deal."}],
        schema=AGENTS[AgentKind.MEDDPICC].output_schema,
    )
    params = request.params() | {"stream": True}
    async with server_client(standin_server.base_url) as http:
        response = await http.post(
            "/v1/messages", json=params, headers={"x-api-key": "k", "anthropic-version": "2023-06-01"}
        )
    events = sse_events(response.content)
    assert sum(e["type"] == "content_block_delta" for e in events) > 10
    built = ours(events)
    assert built == sdk_message(events)
    assert [block["type"] for block in built["content"]] == ["thinking", "text"] and built["content"][0]["signature"]
    assert json.loads(built["content"][1]["text"]) and built["stop_reason"] == "end_turn"


def test_tool_input_citations_and_usage_a_delta_leaves_out() -> None:
    events: list[dict[str, Any]] = [
        START,
        {"type": "ping"},
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "", "citations": None}},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "Budget "}},
        {
            "type": "content_block_delta",
            "index": 0,
            "delta": {
                "type": "citations_delta",
                "citation": {
                    "type": "char_location",
                    "cited_text": "budget",
                    "document_index": 0,
                    "document_title": None,
                    "start_char_index": 0,
                    "end_char_index": 6,
                    "file_id": None,
                },
            },
        },
        {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "confirmed."}},
        {"type": "content_block_stop", "index": 0},
        {
            "type": "content_block_start",
            "index": 1,
            "content_block": {"type": "tool_use", "id": "toolu_1", "name": "record", "input": {}},
        },
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": '{"amou'}},
        {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": 'nt": 5}'}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},  # input and cache counts left out: message_start's stand
        },
        {"type": "message_stop"},
    ]
    built = ours(events)
    assert built == sdk_message(events)
    assert built["content"][1]["input"] == {"amount": 5} and built["usage"]["input_tokens"] == 120
    assert built["usage"]["output_tokens"] == 42 and built["stop_reason"] == "tool_use"


def test_a_stream_cut_before_message_delta_has_no_stop_reason_and_keeps_its_billing() -> None:
    events = [START, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
    built = ours(events)
    assert built == sdk_message(events)
    assert built["stop_reason"] is None and built["usage"]["cache_creation_input_tokens"] == 30


def test_an_error_event_ends_the_stream_with_the_api_error() -> None:
    stream = MessageStream()
    stream.add("message_start", json.dumps(START))
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    with pytest.raises(StreamError) as caught:
        stream.add("error", json.dumps(error))
    assert caught.value.error == error["error"] and str(caught.value) == "Overloaded"


def test_events_before_message_start_are_an_error_and_pings_carry_nothing() -> None:
    stream = MessageStream()
    assert stream.add("ping", '{"type": "ping"}') is None and not stream.started
    with pytest.raises(StreamError, match="before message_start"):
        stream.add("content_block_stop", '{"type": "content_block_stop", "index": 0}')


@pytest.mark.parametrize(
    ("event", "data"),
    [
        ("content_block_delta", "{not json"),
        (
            "content_block_delta",
            '{"type": "content_block_delta", "index": 7, "delta": {"type": "text_delta", "text": "x"}}',
        ),
        ("message_delta", '{"type": "message_delta"}'),
        ("message_start", '{"type": "message_start"}'),
    ],
)
def test_a_malformed_event_is_the_apis_error_not_an_unexpected_one(event: str, data: str) -> None:
    stream = MessageStream()
    if event != "message_start":
        stream.add("message_start", json.dumps(START))
    with pytest.raises(StreamError) as caught:
        stream.add(event, data)
    assert caught.value.error["type"] == "api_error" and f"malformed '{event}'" in str(caught.value)


def test_a_tool_called_without_arguments_has_empty_input_as_the_sdk_builds_it() -> None:
    """An empty input_json_delta (or none at all) leaves the input content_block_start announced: `{}`."""
    tool = {"type": "tool_use", "id": "toolu_1", "name": "ping", "input": {}}
    events: list[dict[str, Any]] = [
        START,
        {"type": "content_block_start", "index": 0, "content_block": tool},
        {"type": "content_block_delta", "index": 0, "delta": {"type": "input_json_delta", "partial_json": ""}},
        {"type": "content_block_stop", "index": 0},
        {"type": "content_block_start", "index": 1, "content_block": {**tool, "id": "toolu_2"}},
        {"type": "content_block_stop", "index": 1},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 9},
        },
    ]
    built = ours(events)
    assert built == sdk_message(events)
    assert [block["input"] for block in built["content"]] == [{}, {}]
