"""The events `dealEvents` subscribers hear: a deal's health changed, proposals of it were made or decided.

Both kinds name their deal in one event field of their own (`TOPIC_FIELD`), so one hub subscription per
subscriber hears both, and `dealAnalysisEvents` subscribers (who listen on `deal`) hear neither. Each is sent
with `runs.notify` in the writing transaction: a subscriber never hears of what was rolled back.
"""

from __future__ import annotations

import uuid
from typing import Any, Final

TOPIC_FIELD: Final = "dealEventsOf"
HEALTH: Final = "health"
"""The health's status or warnings changed; `version` is the stored row's new version."""
PROPOSALS: Final = "proposals"
"""Proposals were made or decided; `proposals` lists their ids."""


def deal_event(kind: str, tenant_id: uuid.UUID, deal_id: uuid.UUID, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "tenant": str(tenant_id), TOPIC_FIELD: str(deal_id), **fields}
