"""Relay global ids (base64 "Type:uuid") to database ids; a wrong type or malformed id is simply absent."""

from __future__ import annotations

import uuid

from strawberry import relay


def node_uuid(global_id: relay.GlobalID | str, type_name: str) -> uuid.UUID | None:
    try:
        gid = global_id if isinstance(global_id, relay.GlobalID) else relay.GlobalID.from_id(global_id)
        return uuid.UUID(gid.node_id) if gid.type_name == type_name else None
    except ValueError:
        return None


def raw_uuid(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None
