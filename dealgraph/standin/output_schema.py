"""The JSON-schema subset structured outputs accept, enforced on `output_config.format.schema`.

https://platform.claude.com/docs/en/build-with-claude/structured-outputs ("JSON Schema limitations") lists
what a schema may use: the basic types, enum and const, anyOf and allOf, local `$ref`s into `$defs`,
`required`, `additionalProperties: false` on every object, `minItems` of 0 or 1, and a fixed list of string
formats; numeric constraints (minimum, maximum, exclusive bounds, multipleOf), string lengths, `maxItems`,
larger `minItems`, object size constraints, external references and recursive schemas are refused. The
anthropic SDK's `transform_schema` (lib/_parse/_transform.py) produces exactly that subset, which is what
dealgraph sends. The page also caps schema complexity (optional properties, unions), but the numbers were
not in the pages read for this, so no complexity limit is enforced here; nor is the wording of these 400s
documented: each names the offending keyword and where it is.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

SUPPORTED_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
SUPPORTED_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
"""The SDK's `SupportedStringFormats`, the formats the page lists."""
UNSUPPORTED_KEYWORDS = frozenset(
    {
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "minLength",
        "maxLength",
        "maxItems",
        "minProperties",
        "maxProperties",
    }
)
_SUBSCHEMA_LISTS = ("anyOf", "allOf")
_LOCAL_REF = "#/$defs/"


def schema_problems(schema: Mapping[str, Any]) -> Iterator[str]:
    """Every keyword of `schema` outside the subset, as `output_config.format.schema<path>: problem`."""
    defs = schema.get("$defs") or {}
    yield from _walk(schema, "", defs)
    for name in defs:
        if _refers_to_itself(name, defs):
            yield f"output_config.format.schema.$defs.{name}: recursive schemas are not supported"


def _walk(schema: Any, path: str, defs: Mapping[str, Any]) -> Iterator[str]:
    where = f"output_config.format.schema{path}"
    if not isinstance(schema, Mapping):
        yield f"{where}: a schema must be a JSON object"
        return
    for keyword in sorted(UNSUPPORTED_KEYWORDS & set(schema)):
        yield f"{where}: '{keyword}' is not supported in structured outputs"
    ref = schema.get("$ref")
    if ref is not None and not (isinstance(ref, str) and ref.startswith(_LOCAL_REF) and ref[len(_LOCAL_REF) :] in defs):
        yield f"{where}: '$ref' must point into this schema's $defs (got {ref!r}); external references are not supported"
    types = _types(schema.get("type"))
    for type_ in types:
        if type_ not in SUPPORTED_TYPES:
            yield f"{where}: type {type_!r} is not supported"
    if "object" in types and schema.get("additionalProperties") is not False:
        yield f"{where}: for 'object' type, 'additionalProperties' must be explicitly set to false"
    min_items = schema.get("minItems")
    if min_items is not None and min_items not in (0, 1):
        yield f"{where}: 'minItems' values other than 0 or 1 are not supported (got {min_items})"
    fmt = schema.get("format")
    if fmt is not None and fmt not in SUPPORTED_FORMATS:
        yield f"{where}: format {fmt!r} is not supported; use one of {', '.join(sorted(SUPPORTED_FORMATS))}"
    for key, sub in (schema.get("properties") or {}).items():
        yield from _walk(sub, f"{path}.properties.{key}", defs)
    if "items" in schema:
        yield from _walk(schema["items"], f"{path}.items", defs)
    for keyword in _SUBSCHEMA_LISTS:
        for index, sub in enumerate(schema.get(keyword) or []):
            yield from _walk(sub, f"{path}.{keyword}.{index}", defs)
    if not path:  # definitions are walked once, from the root
        for name, sub in (schema.get("$defs") or {}).items():
            yield from _walk(sub, f".$defs.{name}", defs)


def _types(types: Any) -> list[Any]:
    """`type` as a list: a single type, a list of them, or none."""
    return types if isinstance(types, list) else [] if types is None else [types]


def _refs(schema: Any) -> Iterator[str]:
    """The `$defs` names a schema refers to, at any depth."""
    if isinstance(schema, Mapping):
        ref = schema.get("$ref")
        if isinstance(ref, str) and ref.startswith(_LOCAL_REF):
            yield ref[len(_LOCAL_REF) :]
        for key, value in schema.items():
            if key != "$defs":
                yield from _refs(value)
    elif isinstance(schema, list):
        for item in schema:
            yield from _refs(item)


def _refers_to_itself(name: str, defs: Mapping[str, Any]) -> bool:
    seen: set[str] = set()
    pending = list(_refs(defs.get(name)))
    while pending:
        current = pending.pop()
        if current == name:
            return True
        if current not in seen:
            seen.add(current)
            pending += _refs(defs.get(current))
    return False
