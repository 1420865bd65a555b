"""The agents an analysis can run.

The value is the agent's key everywhere it must be spelled the same: the title of the JSON schema of its
structured output (how the stand-in tells which answer a request asks for), its key in the shared output
schema of `leader` cache sharing, the name of its instruction file and the `agent` variable of templates.
"""

from __future__ import annotations

import enum


class AgentKind(enum.StrEnum):
    MEDDPICC = "meddpicc"
    ACTION_ITEMS = "action_items"
    STAKEHOLDERS = "stakeholders"
    MEETING_INTELLIGENCE = "meeting_intelligence"
