"""Prompt-cache accounting and the prompt's token count, so `usage` (and count_tokens) look like a real bill.

Tokens are estimated as the client estimates them (`dealgraph.claude.tokens`): one calibration for both."""

from __future__ import annotations

import hashlib
import json
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from dealgraph.claude.tokens import estimate_tokens, tokens_in
from dealgraph.standin.transcript import as_blocks, block_text

_CACHE_CAPACITY = 1024


class Segment(NamedTuple):
    """One cacheable prompt part: `identity` is what must match for a cache hit, cache_control aside."""

    identity: str
    chars: int
    breakpoint: str | None
    """The breakpoint's TTL ("5m" or "1h") when the part carries cache_control."""


class InputUsage(NamedTuple):
    input_tokens: int
    cache_creation_input_tokens: int
    cache_read_input_tokens: int
    ephemeral_5m_input_tokens: int = 0
    ephemeral_1h_input_tokens: int = 0

    def as_api(self) -> dict[str, Any]:
        """The `usage` fields as the API reports them (https://platform.claude.com/docs/en/build-with-claude/prompt-caching):
        `input_tokens` is only the part after the last breakpoint, with the TTL breakdown in `cache_creation`."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {
                "ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens,
            },
            "service_tier": "standard",
        }


def prompt_segments(body: Mapping[str, Any]) -> list[Segment]:
    """The prompt in the order the API caches it (tools, system, messages), one entry per block."""

    def segment(part: Mapping[str, Any], chars: int) -> Segment:
        identity = json.dumps({k: v for k, v in part.items() if k != "cache_control"}, sort_keys=True)
        control = part.get("cache_control")
        return Segment(identity, chars, control.get("ttl", "5m") if isinstance(control, Mapping) else None)

    segments = [segment(tool, len(json.dumps(tool))) for tool in body.get("tools", [])]
    output_config = body.get("output_config")
    fmt = output_config.get("format") if isinstance(output_config, Mapping) else None
    if fmt is not None:
        # Structured outputs add a system prompt for the format, and changing the format invalidates the
        # cache (https://platform.claude.com/docs/en/build-with-claude/structured-outputs): it is part of
        # the prefix, ahead of the system blocks.
        segments.append(Segment(json.dumps(fmt, sort_keys=True), len(json.dumps(fmt)), None))
    segments += [segment(block, len(block_text(block))) for block in as_blocks(body.get("system", []))]
    for message in body["messages"]:
        segments += [segment(block, len(block_text(block))) for block in as_blocks(message["content"])]
    control = body.get("cache_control")
    if isinstance(control, Mapping) and segments:  # automatic caching: the last block is the breakpoint
        segments[-1] = segments[-1]._replace(breakpoint=control.get("ttl", "5m"))
    return segments


def prompt_tokens(segments: Sequence[Segment]) -> int:
    return estimate_tokens(sum(part.chars for part in segments))


_TTL_S = {"5m": 300.0, "1h": 3600.0}


@dataclass
class _Entry:
    tokens: int
    ttl: str
    visible_at: float | None = None
    """Set when the response that wrote it starts: before that, no other request can read it."""
    expires_at: float = 0.0


@dataclass
class CacheWrite:
    """What one response will make readable once it starts."""

    keys: list[str]

    def __bool__(self) -> bool:
        return bool(self.keys)


class PromptCache:
    """Cached prefixes with the API's visibility rules (https://platform.claude.com/docs/en/build-with-claude/prompt-caching):
    an entry is readable only once the response that wrote it has begun, lives for its TTL (refreshed by every
    read), and a prefix shorter than the model's minimum cacheable length is silently not cached."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._clock = clock

    def plan(self, segments: Sequence[Segment], min_tokens: int, *, model: str) -> tuple[InputUsage, CacheWrite]:
        """Bills the prompt: the longest readable prefix is read, the rest up to the last breakpoint written.

        A prefix matches only exactly, block by block up to the breakpoint, and only for the same model:
        caches are per model (the prompt-caching page: changing the model invalidates the whole cache)."""
        now = self._clock()
        digest = hashlib.sha256(model.encode() + b"\x00")
        chars = 0
        breakpoints: list[tuple[str, int, str]] = []
        for part in segments:
            digest.update(part.identity.encode() + b"\x00")
            chars += part.chars
            if part.breakpoint is not None and tokens_in(chars) >= min_tokens:
                breakpoints.append((digest.hexdigest(), tokens_in(chars), part.breakpoint))
        total = prompt_tokens(segments)
        readable = [(key, tokens) for key, tokens, _ in breakpoints if self._readable(key, now)]
        read = max((tokens for _, tokens in readable), default=0)
        for key, _ in readable:
            self._entries[key].expires_at = now + _TTL_S[self._entries[key].ttl]
        writes = [(key, tokens, ttl) for key, tokens, ttl in breakpoints if tokens > read]
        created = {"5m": 0, "1h": 0}
        covered = read
        for key, tokens, ttl in writes:
            created[ttl] += tokens - covered
            covered = tokens
            entry = self._entries.get(key)
            if entry is None or (entry.visible_at is not None and now >= entry.expires_at):  # new, or expired
                self._entries[key] = _Entry(tokens, ttl)
            self._entries.move_to_end(key)
        while len(self._entries) > _CACHE_CAPACITY:
            self._entries.popitem(last=False)
        creation = created["5m"] + created["1h"]
        usage = InputUsage(max(1, total - read - creation), creation, read, created["5m"], created["1h"])
        return usage, CacheWrite([key for key, _, _ in writes])

    def publish(self, write: CacheWrite) -> None:
        """The writing response has started: its entries become readable by every later request."""
        now = self._clock()
        for key in write.keys:
            entry = self._entries.get(key)
            if entry is not None and entry.visible_at is None:
                entry.visible_at = now
                entry.expires_at = now + _TTL_S[entry.ttl]

    def _readable(self, key: str, now: float) -> bool:
        entry = self._entries.get(key)
        return entry is not None and entry.visible_at is not None and now < entry.expires_at
