"""The effort levels Claude accepts, in one neutral module.

They are both a request field (`dealgraph.claude.models`) and the domain of the prompt
versions' `effort` column (`dealgraph.db.models`), and the database layer must not import agents.
"""

from __future__ import annotations

from typing import Literal, get_args

Effort = Literal["low", "medium", "high", "xhigh", "max"]
EFFORTS: tuple[Effort, ...] = get_args(Effort)
"""Every `output_config.effort` value, lowest first (https://platform.claude.com/docs/en/build-with-claude/effort)."""
