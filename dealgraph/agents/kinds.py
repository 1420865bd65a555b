"""The agents an analysis can run; the value doubles as the tool name the model is forced to call."""

from __future__ import annotations

import enum


class AgentKind(enum.StrEnum):
    MEDDPICC = "meddpicc"
    ACTION_ITEMS = "action_items"
    STAKEHOLDERS = "stakeholders"
    MEETING_INTELLIGENCE = "meeting_intelligence"
