"""Token estimates and prompt-cache accounting, so `usage` (and count_tokens) look like a real bill."""

from __future__ import annotations

import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from dealgraph.agents.standin.transcript import as_blocks, block_text

CHARS_PER_TOKEN = 4
"""The usual rule of thumb for English prose and JSON."""
_CACHE_CAPACITY = 1024


def _tokens_in(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def estimate_tokens(chars: int) -> int:
    """Never zero: the real API bills at least one token for any prompt or output."""
    return max(1, _tokens_in(chars))


class Segment(NamedTuple):
    """One cacheable prompt part: `identity` is what must match for a cache hit, cache_control aside."""

    identity: str
    chars: int
    breakpoint: bool


class InputUsage(NamedTuple):
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int


def prompt_segments(body: Mapping[str, Any]) -> list[Segment]:
    """The prompt in the order the API caches it (tools, system, messages), one entry per block."""

    def segment(part: Mapping[str, Any], chars: int) -> Segment:
        identity = json.dumps({k: v for k, v in part.items() if k != "cache_control"}, sort_keys=True)
        return Segment(identity, chars, bool(part.get("cache_control")))

    segments = [segment(tool, len(json.dumps(tool))) for tool in body.get("tools", [])]
    segments += [segment(block, len(block_text(block))) for block in as_blocks(body.get("system", []))]
    for message in body["messages"]:
        segments += [segment(block, len(block_text(block))) for block in as_blocks(message["content"])]
    if body.get("cache_control") and segments:
        segments[-1] = segments[-1]._replace(breakpoint=True)
    return segments


def prompt_tokens(segments: Sequence[Segment]) -> int:
    return estimate_tokens(sum(part.chars for part in segments))


class PromptCache:
    """Bounded memory of cached prefixes, so a repeated prefix is billed as a cache read like the real API."""

    def __init__(self) -> None:
        self._prefixes: OrderedDict[str, None] = OrderedDict()

    def usage(self, segments: Sequence[Segment]) -> InputUsage:
        """Bills the prompt and remembers its breakpoints: the first sighting creates, a repeat reads."""
        digest = hashlib.sha256()
        chars = 0
        breakpoints: list[tuple[str, int]] = []
        for part in segments:
            digest.update(part.identity.encode() + b"\x00")
            chars += part.chars
            if part.breakpoint:
                breakpoints.append((digest.hexdigest(), chars))
        total = prompt_tokens(segments)
        if not breakpoints:
            return InputUsage(total, 0, 0)
        hit_chars = max((c for key, c in breakpoints if key in self._prefixes), default=0)
        read = _tokens_in(hit_chars)
        created = _tokens_in(breakpoints[-1][1]) - read
        for key, _ in breakpoints:
            self._prefixes[key] = None
            self._prefixes.move_to_end(key)
        while len(self._prefixes) > _CACHE_CAPACITY:
            self._prefixes.popitem(last=False)
        return InputUsage(max(1, total - read - created), created, read)
