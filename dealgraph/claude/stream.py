"""A Messages API stream folded into its final message: the SDK's own server-sent-event decoding, plain JSON after it.

The SDK's `messages.stream()` helper types every event (a pydantic union validation per delta) and then
accumulates a typed snapshot and derives events from it; for an agent's answer of a hundred-odd deltas that
was the largest share of a run's CPU (see the README's orchestration figures). This folds the events'
JSON, as https://platform.claude.com/docs/en/build-with-claude/streaming documents them, into the message
object as the API documents it (https://platform.claude.com/docs/en/api/messages), which callers read as
JSON: typing it with the SDK's `Message` model, only to read five fields and dump the blocks back to JSON,
cost more than folding the stream. `tests/test_message_stream.py` checks that the folded message, typed,
is the one the SDK's helper builds. The rules mirror `anthropic.lib.streaming._messages.accumulate_event`:
deltas append to their block (a tool input's JSON parsed once complete, an empty one left `{}`), `message_delta` sets the stop reason and overwrites the cumulative usage
counts it carries, `ping` and unnamed events are skipped, an `error` event ends the stream with that error.

Example:
    stream = MessageStream()
    async for sse in anthropic.AsyncStream.raw_events(response.http_response):
        if stream.add(sse.event, sse.data) == "content_block_delta":
            print(stream.streamed_characters)
    message = stream.final()
"""

from __future__ import annotations

import json
import time
from typing import Any

_USAGE_ON_DELTA = (
    "input_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
    "server_tool_use",
    "output_tokens_details",
)
"""Optional cumulative counts a `message_delta` may carry; when absent, message_start's value stands."""


class StreamError(Exception):
    """An `error` event after the 200 (e.g. `overloaded_error` mid-stream): the API's error object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(str(error.get("message") or error.get("type") or "error event"))
        self.error = error


class MessageStream:
    def __init__(self) -> None:
        self._message: dict[str, Any] | None = None
        self._json: dict[int, str] = {}
        self.streamed_characters = 0
        """Text and thinking characters received so far, for progress estimates."""
        self.started_at: float | None = None
        """`time.perf_counter()` at message_start, the response's first chunk (its request span reports it)."""

    def add(self, event: str | None, data: str) -> str | None:
        """Folds one event in; returns its type, None for what carries nothing (pings, keep-alives).

        An event that is not what the documentation says (bad JSON, a missing field, an unknown block index)
        ends the stream as the API's own failure (`api_error`, retried), never as an unexpected exception."""
        if event is None or event == "ping" or not data:
            return None
        try:
            return self._fold(event, json.loads(data))
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as error:
            raise StreamError({"type": "api_error", "message": f"malformed '{event}' event: {error!r}"}) from error

    def _fold(self, event: str, payload: Any) -> str:
        if event == "error":
            error = payload.get("error") if isinstance(payload, dict) else None
            raise StreamError(error if isinstance(error, dict) else {"type": "api_error", "message": str(payload)})
        if event == "message_start":
            self._message = payload["message"]
            self.started_at = time.perf_counter()
            return event
        message = self._message
        if message is None:
            raise StreamError({"type": "api_error", "message": f"'{event}' event before message_start"})
        if event == "content_block_start":
            message["content"].append(payload["content_block"])
        elif event == "content_block_delta":
            self._delta(message["content"][payload["index"]], payload["index"], payload["delta"])
        elif event == "content_block_stop":
            # An empty buffer leaves the input content_block_start announced ({}), as the SDK's accumulate_event
            # does (it parses only a non-empty buffer): a tool called without arguments streams no JSON.
            if partial := self._json.pop(payload["index"], None):
                message["content"][payload["index"]]["input"] = json.loads(partial)
        elif event == "message_delta":
            delta, usage = payload["delta"], payload.get("usage") or {}
            for key in ("stop_reason", "stop_sequence", "stop_details"):
                message[key] = delta.get(key)
            if delta.get("container") is not None:
                message["container"] = delta["container"]
            message["usage"]["output_tokens"] = usage.get("output_tokens", message["usage"].get("output_tokens"))
            message["usage"].update((key, usage[key]) for key in _USAGE_ON_DELTA if usage.get(key) is not None)
        return event

    def _delta(self, block: dict[str, Any], index: int, delta: dict[str, Any]) -> None:
        match delta["type"]:
            case "text_delta":
                block["text"] = block.get("text", "") + delta["text"]
                self.streamed_characters += len(delta["text"])
            case "thinking_delta":
                block["thinking"] = block.get("thinking", "") + delta["thinking"]
                self.streamed_characters += len(delta["thinking"])
            case "signature_delta":
                block["signature"] = delta["signature"]
            case "input_json_delta":
                self._json[index] = self._json.get(index, "") + delta["partial_json"]
            case "citations_delta":
                block["citations"] = [*(block.get("citations") or []), delta["citation"]]

    @property
    def started(self) -> bool:
        return self._message is not None

    def final(self) -> dict[str, Any]:
        """The message so far (stop_reason None when the stream ended before message_delta)."""
        if self._message is None:
            raise StreamError({"type": "api_error", "message": "the stream ended before message_start"})
        return self._message
