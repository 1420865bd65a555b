"""Prompt-cache diagnostics as the API gives them (https://platform.claude.com/docs/en/build-with-claude/cache-diagnostics).

A request carrying a `diagnostics` object has its prompt's fingerprint stored under the id of its response; a
later request naming that id as `diagnostics.previous_message_id` gets back where its prompt first diverged
from that one's, as the SDK types it (`anthropic.types.Diagnostics`): the model, the system prompt, the tools,
other prompt-affecting parameters (`unavailable`), or an earlier message. Appending messages is no divergence.
The comparison is of the requests' structure, not of whether the cache was read; the missed tokens are the
previous prompt's tokens after the part the two share, estimated as the stand-in bills them.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dealgraph.claude.tokens import tokens_in
from dealgraph.standin.usage import prompt_segments

_REMEMBERED = 1024
"""Fingerprints kept (the API keeps them for a limited time); an older id is `previous_message_not_found`."""


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class _Fingerprint:
    """Hashes and sizes only, like the API's: never the prompt itself."""

    model: str
    system: str
    tools: str
    parameters: str
    messages: tuple[str, ...]
    segments: tuple[tuple[str, int], ...]
    """The prompt in cache order (`usage.prompt_segments`), each part's hash and characters."""

    @classmethod
    def of(cls, body: Mapping[str, Any]) -> _Fingerprint:
        output_config = body.get("output_config")
        return cls(
            model=_digest([body.get("model"), body.get("speed")]),
            system=_digest(body.get("system")),
            tools=_digest(body.get("tools")),
            parameters=_digest(
                [
                    output_config.get("format") if isinstance(output_config, Mapping) else None,
                    body.get("thinking"),
                    body.get("tool_choice"),
                ]
            ),
            messages=tuple(_digest(message) for message in body["messages"]),
            segments=tuple((_digest([body.get("model"), part.identity]), part.chars) for part in prompt_segments(body)),
        )

    def divergence(self, later: _Fingerprint) -> str | None:
        """The first way `later` differs from this prompt, in the order the API reports them."""
        if later.model != self.model:
            return "model_changed"
        if later.system != self.system:
            return "system_changed"
        if later.tools != self.tools:
            return "tools_changed"
        if later.parameters != self.parameters:
            return "unavailable"
        if later.messages[: len(self.messages)] != self.messages:
            return "messages_changed"
        return None

    def tokens_after_shared_prefix(self, later: _Fingerprint) -> int:
        shared = 0
        for mine, theirs in zip(self.segments, later.segments, strict=False):
            if mine[0] != theirs[0]:
                break
            shared += mine[1]
        return tokens_in(sum(chars for _, chars in self.segments) - shared)


class CacheDiagnostics:
    def __init__(self) -> None:
        self._fingerprints: OrderedDict[str, _Fingerprint] = OrderedDict()

    def diagnose(self, body: Mapping[str, Any], previous_message_id: str | None) -> dict[str, Any] | None:
        """The response's `diagnostics`: None on a first turn (no id) and when nothing diverged."""
        if previous_message_id is None:
            return None
        previous = self._fingerprints.get(previous_message_id)
        if previous is None:
            return {"cache_miss_reason": {"type": "previous_message_not_found"}}
        current = _Fingerprint.of(body)
        reason = previous.divergence(current)
        if reason is None:
            return None
        if reason == "unavailable":
            return {"cache_miss_reason": {"type": reason}}
        missed = previous.tokens_after_shared_prefix(current)
        return {"cache_miss_reason": {"type": reason, "cache_missed_input_tokens": missed}}

    def remember(self, message_id: str, body: Mapping[str, Any]) -> None:
        self._fingerprints[message_id] = _Fingerprint.of(body)
        while len(self._fingerprints) > _REMEMBERED:
            self._fingerprints.popitem(last=False)
