"""Server-sent events in the Messages API's framing and order, paced so a stream takes the scripted latency."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

from dealgraph.agents.standin.reply import Reply

SSE_MEDIA_TYPE = "text/event-stream; charset=utf-8"


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


async def stream_events(
    message: dict[str, Any], reply: Reply, started: float, latency_s: float
) -> AsyncIterator[bytes]:
    """The real event sequence, with deltas spread evenly so the whole stream takes `latency_s`."""
    chunks = _chunks(reply.payload)
    step = latency_s / (len(chunks) + 1)
    yield _frame({"type": "message_start", "message": message})
    yield _frame({"type": "ping"})
    yield _frame({"type": "content_block_start", "index": 0, "content_block": reply.start_block()})
    for position, chunk in enumerate(chunks, start=1):
        await sleep_until(started + position * step)
        yield _frame({"type": "content_block_delta", "index": 0, "delta": reply.delta(chunk)})
    yield _frame({"type": "content_block_stop", "index": 0})
    await sleep_until(started + latency_s)
    delta = {"stop_reason": reply.stop_reason, "stop_sequence": None}
    yield _frame({"type": "message_delta", "delta": delta, "usage": {"output_tokens": reply.output_tokens}})
    yield _frame({"type": "message_stop"})
