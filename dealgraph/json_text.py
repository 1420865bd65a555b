"""JSON text for the hot paths: responses, run results written to jsonb, and event payloads.

Example:
    payload = dumps({"kind": "succeeded", "run": str(run_id)})
"""

from __future__ import annotations

import json

import orjson


def dumps(value: object) -> str:
    """orjson: about fifteen times faster than `json` on a deal page's response (bench/read_throughput).

    What orjson refuses (a lone surrogate, a key that is not a string) falls back to `json`, which accepts it."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError included
        return json.dumps(value)
