"""Schema-driven fake tool input: valid against the agent's schema and grounded in the prompt's transcript.

Output has to pass the same pydantic validation and evidence checks real model output faces, so quotes
are verbatim transcript text with the matching speaker and index, while every generated (non-verbatim)
string starts with "[simulated] " so it can never pass for real analysis. Unsupported keywords
(`pattern`, `multipleOf`, `not`, `if`) are ignored.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import uuid
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from dealgraph.standin.transcript import Utterance

SIMULATED_PREFIX = "[simulated] "

_MAX_DEPTH = 8
_OPTIONAL_PROPERTY_P = 0.75
_NULL_P = 0.2
_DATE_ANCHOR = date(2025, 1, 6)
"""Fixed so a date never depends on the day the test runs."""

_QUOTE_WORDS = frozenset({"quote", "evidence", "excerpt", "verbatim", "snippet", "citation"})
_SPEAKER_WORDS = frozenset({"speaker", "owner", "name", "person", "who", "assignee"})
_INDEX_WORDS = frozenset({"utterance", "index"})
_CONFIDENCE_WORDS = frozenset({"confidence", "probability", "likelihood", "certainty"})
_PROSE_WORDS = frozenset(
    {
        "summary",
        "description",
        "text",
        "rationale",
        "reason",
        "reasoning",
        "explanation",
        "note",
        "detail",
        "insight",
        "recommendation",
        "action",
        "step",
        "comment",
        "context",
        "analysis",
    }
)
_WORD_BOUNDARY = re.compile(r"[^A-Za-z0-9]+|(?<=[a-z0-9])(?=[A-Z])")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


def synthesize(schema: Mapping[str, Any], utterances: Sequence[Utterance], *, name: str) -> Any:
    """Same schema, name and transcript always give the same value, so test expectations stay stable.

    Remembered for the last few inputs (as JSON: every caller gets its own copy): synthesis was most of
    the stand-in's CPU, and a benchmark sending one call's prompts over and over should measure dealgraph."""
    material = name + "\n" + "\n".join(f"[{u.index}] {u.speaker}: {u.text}" for u in utterances)
    digest = hashlib.sha256(material.encode()).digest()
    key = (json.dumps(schema, sort_keys=True), digest)
    if (known := _SYNTHESIZED.get(key)) is not None:
        return json.loads(known)
    seed = int.from_bytes(digest[:8], "big")
    value = _Synthesizer(schema, utterances, random.Random(seed)).value(schema, name, None, 0)
    if len(_SYNTHESIZED) >= _SYNTHESIZED_KEPT:
        _SYNTHESIZED.clear()  # single dict operations only: stand-ins in several threads share this
    _SYNTHESIZED[key] = json.dumps(value)
    return value


_SYNTHESIZED: dict[tuple[str, bytes], str] = {}
_SYNTHESIZED_KEPT = 64


def property_schema(root: Mapping[str, Any], key: str) -> dict[str, Any]:
    """A property's schema, its null alternative removed and `$ref`s still resolvable against `root`."""
    schema = _resolve(root["properties"][key], root)
    variants = [v for v in schema.get("anyOf", []) if _resolve(v, root).get("type") != "null"]
    chosen = _resolve(variants[0], root) if variants else schema
    return {**chosen, "$defs": root.get("$defs", {})}


def synthesize_property(root: Mapping[str, Any], key: str, utterances: Sequence[Utterance]) -> Any:
    """A value for one property of `root` (never null), as `synthesize` would give for a schema of its own."""
    return synthesize(property_schema(root, key), utterances, name=key)


def drop_required(value: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """The malformed output a real model sometimes returns: the first required property is missing."""
    required = [key for key in _resolve(schema, schema).get("required", []) if key in value]
    return {key: item for key, item in value.items() if key != required[0]} if required else value


_DESCRIBED_CONSTRAINTS = re.compile(r"\{((?:\w+: [^,{}]+)(?:, \w+: [^,{}]+)*)\}$")
"""What `anthropic.transform_schema` appends to a description for keywords structured outputs cannot
enforce (`minimum: 0, maximum: 1`, `maxItems: 3`, …): a real model reads and follows them, so does this."""


def _described_constraints(description: object) -> dict[str, Any]:
    match = _DESCRIBED_CONSTRAINTS.search(description) if isinstance(description, str) else None
    constraints: dict[str, Any] = {}
    for item in match[1].split(", ") if match else ():
        key, _, raw = item.partition(": ")
        try:
            constraints[key] = json.loads(raw)
        except ValueError:
            constraints[key] = raw
    return constraints


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    """Inline `$ref` and merge `allOf`, which pydantic emits for nested models and annotated fields."""
    resolved = {**_described_constraints(schema.get("description")), **schema}
    ref = resolved.pop("$ref", None)
    if ref is not None:
        target: Any = root
        for part in filter(None, ref.removeprefix("#").split("/")):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        resolved = {**_resolve(target, root), **resolved}
    for part in resolved.pop("allOf", []):
        merged = _resolve(part, root)
        resolved["properties"] = {**merged.pop("properties", {}), **resolved.get("properties", {})}
        resolved["required"] = [*merged.pop("required", []), *resolved.get("required", [])]
        resolved = {**merged, **resolved}
    return resolved


def _words(name: str) -> set[str]:
    """`ownerName`, `owner_name` and `owners` all mean the same field kind."""
    words = {part.lower() for part in _WORD_BOUNDARY.split(name) if part}
    return words | {word[:-1] for word in words if len(word) > 3 and word.endswith("s")}


class _Synthesizer:
    def __init__(self, root: Mapping[str, Any], utterances: Sequence[Utterance], rng: random.Random) -> None:
        self._root = root
        self._utterances = utterances
        self._rng = rng

    def value(self, schema: Mapping[str, Any], name: str, anchor: Utterance | None, depth: int) -> Any:
        """`anchor` is the utterance an object's fields talk about, so quote, speaker and index agree."""
        resolved = _resolve(schema, self._root)
        if "const" in resolved:
            return resolved["const"]
        if "enum" in resolved:
            return self._rng.choice(resolved["enum"])
        variants = resolved.get("anyOf") or resolved.get("oneOf")
        if variants:
            return self._variant(variants, name, anchor, depth)
        kind = resolved.get("type", "object" if "properties" in resolved else "array" if "items" in resolved else "")
        if isinstance(kind, list):
            return self._variant([{**resolved, "type": option} for option in kind], name, anchor, depth)
        match kind:
            case "object":
                return self._object(resolved, depth)
            case "array":
                return self._array(resolved, name, depth)
            case "integer":
                return self._integer(resolved, name, anchor)
            case "number":
                return self._number(resolved, name)
            case "boolean":
                return self._rng.random() < 0.5
            case "null":
                return None
            case _:
                return self._string(resolved, name, anchor)

    def _variant(self, variants: Sequence[Mapping[str, Any]], name: str, anchor: Utterance | None, depth: int) -> Any:
        concrete = [v for v in variants if _resolve(v, self._root).get("type") != "null"]
        nullable = len(concrete) < len(variants)
        if not concrete or (nullable and (depth >= _MAX_DEPTH or self._rng.random() < _NULL_P)):
            return None
        return self.value(self._rng.choice(concrete), name, anchor, depth)

    def _pick(self) -> Utterance | None:
        return self._rng.choice(self._utterances) if self._utterances else None

    def _object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        anchor = self._pick()
        required = set(schema.get("required", []))
        return {
            key: self.value(prop, key, anchor, depth + 1)
            for key, prop in schema.get("properties", {}).items()
            if key in required or (depth < _MAX_DEPTH and self._rng.random() < _OPTIONAL_PROPERTY_P)
        }

    def _array(self, schema: Mapping[str, Any], name: str, depth: int) -> list[Any]:
        low = schema.get("minItems", 0)
        high = schema.get("maxItems", low + 3)
        start = min(max(low, 1), high)
        count = low if depth >= _MAX_DEPTH else self._rng.randint(start, max(start, min(high, 3)))
        prefix = schema.get("prefixItems", [])
        items: list[Any] = []
        for _ in range(count * 5):
            if len(items) == count:
                break
            item_schema = prefix[len(items)] if len(items) < len(prefix) else schema.get("items", {})
            item = self.value(item_schema, name, None, depth + 1)
            if not (schema.get("uniqueItems") and item in items):
                items.append(item)
        return items

    def _integer(self, schema: Mapping[str, Any], name: str, anchor: Utterance | None) -> int:
        anchor = (anchor or self._pick()) if _words(name) & _INDEX_WORDS else None
        if anchor is not None:  # a real index, limited only by the schema's own bounds (not the default span)
            return min(max(anchor.index, schema.get("minimum", anchor.index)), schema.get("maximum", anchor.index))
        low, high = _bounds(schema, integer=True)
        return self._rng.randint(low, high)

    def _number(self, schema: Mapping[str, Any], name: str) -> float:
        low, high = _bounds(schema, integer=False)
        if _words(name) & _CONFIDENCE_WORDS and low <= 0.55 and high >= 0.95:
            low, high = 0.55, 0.95
        value = round(self._rng.uniform(low, high), 2)
        return value if low <= value <= high else (low + high) / 2

    def _string(self, schema: Mapping[str, Any], name: str, anchor: Utterance | None) -> str:
        anchor = anchor or self._pick()
        words = _words(name)
        text = self._formatted(schema.get("format"), anchor)
        if text is None and anchor is not None and words & _QUOTE_WORDS:
            text = self._quote(anchor, schema.get("maxLength"))
        elif text is None and words & _SPEAKER_WORDS:
            text = anchor.speaker if anchor is not None else "Simulated Speaker"
        elif text is None:
            text = self._phrase(anchor, 6 if words & (_PROSE_WORDS | _QUOTE_WORDS) else 2)
        return _fit(text, schema.get("minLength", 0), schema.get("maxLength"))

    def _formatted(self, fmt: str | None, anchor: Utterance | None) -> str | None:
        day = _DATE_ANCHOR + timedelta(days=self._rng.randint(1, 120))
        match fmt:
            case "date":
                return day.isoformat()
            case "date-time":
                return f"{day.isoformat()}T{self._rng.randint(8, 17):02d}:00:00Z"
            case "time":
                return f"{self._rng.randint(8, 17):02d}:00:00"
            case "email":
                local = re.sub(r"[^a-z0-9]+", ".", anchor.speaker.lower()).strip(".") if anchor else ""
                return f"{local or 'simulated'}@example.com"
            case "uri" | "url":
                return f"https://example.com/simulated/{self._rng.randint(1, 9999)}"
            case "uuid":
                return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            case _:
                return None

    def _quote(self, anchor: Utterance, max_length: int | None) -> str:
        """A whole sentence or the whole utterance, so the text is a verbatim substring of one line."""
        candidates = [anchor.text, *(s for s in _SENTENCE_END.split(anchor.text) if s)]
        fitting = [c for c in candidates if max_length is None or len(c) <= max_length]
        return self._rng.choice(fitting or candidates)

    def _phrase(self, anchor: Utterance | None, min_words: int) -> str:
        words = anchor.text.split() if anchor is not None else ["no", "transcript", "was", "provided"]
        size = min(len(words), self._rng.randint(min_words, min_words * 2))
        start = self._rng.randint(0, len(words) - size)
        body = " ".join(words[start : start + size]).rstrip(".,;:!?")
        return f"{SIMULATED_PREFIX}{body}."


def _bounds(schema: Mapping[str, Any], *, integer: bool) -> tuple[Any, Any]:
    """Inclusive limits; exclusive ones are nudged inwards, missing ones default to a small plausible span."""
    nudge = 1 if integer else 1e-6
    low = schema.get("minimum")
    if low is None and "exclusiveMinimum" in schema:
        low = (math.floor(schema["exclusiveMinimum"]) if integer else schema["exclusiveMinimum"]) + nudge
    high = schema.get("maximum")
    if high is None and "exclusiveMaximum" in schema:
        high = (math.ceil(schema["exclusiveMaximum"]) if integer else schema["exclusiveMaximum"]) - nudge
    span = 10 if integer else 100
    if low is None:
        low = 0 if high is None or high >= 0 else high - span
    if high is None:
        high = low + span
    return (math.ceil(low), math.floor(high)) if integer else (float(low), float(high))


def _fit(text: str, min_length: int, max_length: int | None) -> str:
    text = text if max_length is None else text[:max_length]
    return text + "." * (min_length - len(text))
