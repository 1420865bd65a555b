"""How many tokens a prompt is, estimated from its characters, without asking the API.

One estimate for both sides: the client uses it to refuse a call that cannot fit the model's context window
before anything is billed (`dealgraph.runs.context_fit`), and the stand-in bills and counts with it, so what
the client predicts is what the stand-in charges.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the stand-in counts with this module, and its process never imports the SDK the client needs
    from dealgraph.claude.client import StructuredRequest

NEWER_TOKENIZER_FACTOR = 1.3
"""https://platform.claude.com/docs/en/build-with-claude/token-counting: the newer tokenizer (Opus 4.7 and later
Opus models, Sonnet 5) makes "approximately 30 percent more tokens" of the same text than earlier models.
Calibrated on that documented ratio, not on count_tokens figures (the page gives none for a known text).
Haiku 5.5 is not named there; it is counted the same, so the estimate over- rather than under-counts."""
CHARS_PER_TOKEN = 4 / NEWER_TOKENIZER_FACTOR
"""About 3.1: the usual four characters a token of English prose and JSON on earlier models, 30 % more tokens."""


def tokens_in(chars: int) -> int:
    """Tokens of `chars` characters of text; zero for none (a prefix's length, for instance)."""
    return math.ceil(chars * NEWER_TOKENIZER_FACTOR / 4)


def estimate_tokens(chars: int) -> int:
    """Never zero: the real API bills at least one token for any prompt or output."""
    return max(1, tokens_in(chars))


def prompt_chars(request: StructuredRequest) -> int:
    """The characters of what a request sends as its prompt, counted as the stand-in counts them: the output
    format's schema (structured outputs add it to the prompt), the system blocks' text and the messages'."""
    schema = json.dumps({"type": "json_schema", "schema": request.schema})
    system = sum(len(block.get("text", "")) for block in request.system)
    return len(schema) + system + sum(_content_chars(message["content"]) for message in request.messages)


def _content_chars(content: str | list[dict[str, object]]) -> int:
    """Text only: thinking blocks sent back are not counted as input (the token-counting page)."""
    if isinstance(content, str):
        return len(content)
    return sum(len(str(block.get("text", ""))) for block in content if block.get("type") == "text")


def estimate_prompt_tokens(request: StructuredRequest) -> int:
    return estimate_tokens(prompt_chars(request))
