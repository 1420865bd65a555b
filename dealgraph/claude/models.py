"""What each Claude model accepts, in one table: the client builds requests from it, the stand-in enforces it,
and saving a prompt version refuses a model that is not in it.

Models change what they accept from one generation to the next (Sonnet 5.5 made forced tool choice and
`thinking: {"type": "disabled"}` a 400), so nothing else in the code may assume a capability: it asks this
table. Every row cites the documentation pages its values come from; update the row, and its citation,
when a model page changes.

Example:
    >>> caps = capabilities("claude-sonnet-5-5")
    >>> caps.thinks_by_default, caps.forced_tool_choice, caps.default_effort
    (True, False, 'high')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from dealgraph.effort import EFFORTS, Effort

SIMULATED_HEADER = "x-dealgraph-simulated"
"""Set on every response of the stand-in (`dealgraph.standin`): a result it produced is marked simulated. Here,
not in the client, so the stand-in's process never imports the SDK (seconds of start-up)."""

ThinkingType = Literal["adaptive", "between_tools", "disabled", "enabled"]

_DOCS = "https://platform.claude.com/docs/en"


@dataclass(frozen=True, slots=True)
class ModelCapabilities:
    """One model's documented request rules; `sources` are the pages each value was read from."""

    model: str
    thinks_by_default: bool
    """A request without a `thinking` field thinks (adaptive), so thinking blocks may lead every response."""
    thinking_types: frozenset[ThinkingType]
    """`thinking.type` values the model accepts; any other is a 400 invalid_request_error."""
    thinking_types_below_xhigh: frozenset[ThinkingType]
    """Of those, the ones accepted only at effort low/medium/high (a 400 at xhigh and max)."""
    forced_tool_choice: bool
    """`tool_choice` `{"type": "tool"}` / `{"type": "any"}` accepted; False: a 400 (use structured outputs)."""
    structured_outputs: bool
    """`output_config.format` (JSON outputs) accepted."""
    sampling_parameters: bool
    """Non-default temperature / top_p / top_k accepted."""
    assistant_prefill: bool
    """A final assistant message (prefill) accepted."""
    efforts: frozenset[Effort]
    default_effort: Effort
    max_output_tokens: int
    """Upper bound of `max_tokens` on the Messages API (thinking counts towards it)."""
    context_window: int
    """Tokens of prompt and answer together (https://platform.claude.com/docs/en/build-with-claude/context-windows):
    runs refuse a call whose prompt plus `max_tokens` exceeds it before sending (`dealgraph.runs.context_fit`)."""
    min_cacheable_tokens: int
    """Shorter cache_control prefixes are not cached (no error: the usage simply shows no cache write)."""
    sources: tuple[str, ...]


_FIVE_FIVE_EFFORTS: frozenset[Effort] = frozenset(EFFORTS)

MODELS: dict[str, ModelCapabilities] = {
    row.model: row
    for row in (
        ModelCapabilities(
            model="claude-sonnet-5-5",
            thinks_by_default=True,
            thinking_types=frozenset({"adaptive", "between_tools"}),
            thinking_types_below_xhigh=frozenset({"between_tools"}),
            forced_tool_choice=False,
            structured_outputs=True,
            sampling_parameters=False,
            assistant_prefill=False,
            efforts=_FIVE_FIVE_EFFORTS,
            default_effort="high",
            max_output_tokens=128_000,
            context_window=1_000_000,
            min_cacheable_tokens=512,
            sources=(
                f"{_DOCS}/models/sonnet-5-5/migration-guide",  # the five settings that return 400
                f"{_DOCS}/models/sonnet-5-5/whats-new-sonnet-5-5",  # between_tools, effort interplay
                f"{_DOCS}/models/sonnet-5-5/overview",  # 1M context, 128K output, default effort high
                f"{_DOCS}/build-with-claude/prompt-caching",  # minimum cacheable length
            ),
        ),
        ModelCapabilities(
            model="claude-opus-5-5",
            thinks_by_default=True,
            thinking_types=frozenset({"adaptive"}),
            thinking_types_below_xhigh=frozenset(),
            forced_tool_choice=False,
            structured_outputs=True,
            sampling_parameters=False,
            assistant_prefill=False,
            efforts=_FIVE_FIVE_EFFORTS,
            default_effort="medium",
            max_output_tokens=128_000,
            context_window=1_000_000,
            min_cacheable_tokens=512,
            sources=(
                f"{_DOCS}/models/opus-5-5/whats-new-opus-5-5",  # thinking always on, forced tool use 400
                f"{_DOCS}/models/opus-5-5/overview",  # 1M context, 128K output, default effort medium
                f"{_DOCS}/build-with-claude/prompt-caching",
            ),
        ),
        ModelCapabilities(
            model="claude-haiku-5-5",
            thinks_by_default=True,
            thinking_types=frozenset({"adaptive", "disabled"}),
            thinking_types_below_xhigh=frozenset({"disabled"}),
            forced_tool_choice=True,
            structured_outputs=True,
            sampling_parameters=False,
            assistant_prefill=False,
            efforts=_FIVE_FIVE_EFFORTS,
            default_effort="medium",
            max_output_tokens=128_000,
            context_window=1_000_000,
            min_cacheable_tokens=512,
            sources=(
                f"{_DOCS}/models/haiku-5-5/whats-new-haiku-5-5",  # budgets, sampling, prefill return errors
                f"{_DOCS}/build-with-claude/prompt-engineering/prompting-claude-haiku-5-5",  # effort, disabled
                f"{_DOCS}/models/haiku-5-5/overview",
                f"{_DOCS}/build-with-claude/prompt-caching",
            ),
        ),
    )
}


class UnknownModel(LookupError):
    def __init__(self, model: str) -> None:
        super().__init__(f"unknown model '{model}'; known models: {', '.join(sorted(MODELS))}")
        self.model = model


def capabilities(model: str) -> ModelCapabilities:
    """Raises UnknownModel: a model without a row has no known rules, so nothing may be sent to it."""
    try:
        return MODELS[model]
    except KeyError:
        raise UnknownModel(model) from None
