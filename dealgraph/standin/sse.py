"""Server-sent events in the Messages API's framing and order, paced so a stream takes the scripted latency.

The sequence is https://platform.claude.com/docs/en/build-with-claude/streaming: message_start (input usage),
per block content_block_start / deltas / content_block_stop (a thinking block ends with its
signature_delta), message_delta with the final cumulative usage, message_stop. A scripted fault after the
200 is either an `error` event (the API's shape: `{"type": "error", "error": {...}}`) or a dropped connection.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from dealgraph.standin.errors import error_body
from dealgraph.standin.reply import Block, Reply

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"


class DroppedConnection(Exception):
    """Raised inside a streaming body: the server closes the connection without finishing the response."""


async def sleep_until(deadline: float) -> None:
    """Deadlines on the `time.monotonic` clock, so time spent producing output counts towards the latency."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _frame(event: dict[str, Any]) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def _chunks(payload: str) -> list[str]:
    """Uneven 16-48 character pieces, like real deltas, seeded by the payload so streams are reproducible."""
    rng = random.Random(payload)
    chunks: list[str] = []
    offset = 0
    while offset < len(payload):
        size = rng.randint(16, 48)
        chunks.append(payload[offset : offset + size])
        offset += size
    return chunks


def _block_events(index: int, block: Block) -> list[tuple[dict[str, Any], bool]]:
    """(event, is a content delta) pairs for one block; deltas are what the latency is spread over."""
    events: list[tuple[dict[str, Any], bool]] = [
        ({"type": "content_block_start", "index": index, "content_block": block.start()}, False)
    ]
    events += [
        ({"type": "content_block_delta", "index": index, "delta": block.deltas(c)}, True)
        for c in _chunks(block.payload)
    ]
    if block.block["type"] == "thinking":
        signature = {"type": "signature_delta", "signature": block.block["signature"]}
        events.append(({"type": "content_block_delta", "index": index, "delta": signature}, False))
    events.append(({"type": "content_block_stop", "index": index}, False))
    return events


async def stream_events(
    message: dict[str, Any],
    reply: Reply,
    *,
    first_token_at: float,
    done_at: float,
    on_start: Callable[[], None],
    before_finish: Callable[[], Awaitable[None]],
    fault: str | None,
) -> AsyncIterator[bytes]:
    """message_start waits for the prefill (`first_token_at`); deltas are spread evenly until `done_at`.

    Frames already due go out in one write, as a busy server's TCP stream would carry them: a stream
    scripted at ~0 ms is a few writes, not one per delta, while deltas seconds apart still arrive one by one.
    """
    await sleep_until(first_token_at)
    on_start()
    pending = [_frame({"type": "message_start", "message": message}), _frame({"type": "ping"})]
    events = [event for index, block in enumerate(reply.blocks) for event in _block_events(index, block)]
    deltas = sum(is_delta for _, is_delta in events)
    step = (done_at - first_token_at) / (deltas + 1)
    fault_after = deltas // 2
    sent = 0
    for event, is_delta in events:
        if fault is not None and sent == fault_after:
            break
        if is_delta:
            sent += 1
            due_at = first_token_at + sent * step
            if due_at > time.monotonic():  # not due yet: what is due goes out, then wait
                yield b"".join(pending)
                pending.clear()
                await sleep_until(due_at)
        pending.append(_frame(event))
    yield b"".join(pending)
    if fault is not None:
        async for frame in _fault(fault):
            yield frame
        return
    await sleep_until(done_at)
    await before_finish()
    delta = reply.stop()
    usage = {
        key: message["usage"][key] for key in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")
    }
    finish = _frame({"type": "message_delta", "delta": delta, "usage": {**usage, **reply.usage()}})
    yield finish + _frame({"type": "message_stop"})


async def _fault(fault: str) -> AsyncIterator[bytes]:
    if fault == "drop":
        raise DroppedConnection("scripted: connection dropped mid-stream")
    yield _frame(error_body(fault, f"Simulated mid-stream {fault}, scripted in the dealgraph LLM stand-in."))
