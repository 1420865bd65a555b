"""Recovers the call transcript from a Messages request, because simulated answers must quote real lines."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

_LINE = re.compile(r"^\[(\d+)[^\]\n]*\]\s*([^:\n]{1,80}):\s*(.+)$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Utterance:
    index: int
    speaker: str
    text: str


def as_blocks(content: str | list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The API accepts a bare string wherever a list of text blocks is allowed; callers see one shape."""
    return [{"type": "text", "text": content}] if isinstance(content, str) else content


def block_text(block: Mapping[str, Any]) -> str:
    """The text a block contributes to the prompt (tool inputs count as their JSON, media as nothing)."""
    match block.get("type"):
        case "text":
            return str(block.get("text", ""))
        case "tool_use":
            return json.dumps(block.get("input", {}))
        case "tool_result":
            return "\n".join(block_text(inner) for inner in as_blocks(block.get("content", "")))
        case _:
            return ""


def request_texts(body: Mapping[str, Any]) -> Iterator[str]:
    """System prompt first, then every message, in the order the model would read them."""
    for block in as_blocks(body.get("system", [])):
        yield block_text(block)
    for message in body.get("messages", []):
        for block in as_blocks(message.get("content", [])):
            yield block_text(block)


def extract_utterances(texts: Iterable[str]) -> list[Utterance]:
    """Lines like `[12 03:04] Alice Chen: text`; a line repeated across turns is kept once."""
    seen: dict[Utterance, None] = {}
    for text in texts:
        for match in _LINE.finditer(text):
            utterance = Utterance(int(match[1]), match[2].strip(), match[3].strip())
            if utterance.speaker and utterance.text:
                seen.setdefault(utterance, None)
    return list(seen)


def transcript_of(body: Mapping[str, Any]) -> list[Utterance]:
    return extract_utterances(request_texts(body))
