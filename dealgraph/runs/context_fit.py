"""Whether a call fits the model's context window, decided before any request is billed.

The window holds the prompt and the answer (https://platform.claude.com/docs/en/build-with-claude/context-windows):
a prompt over it is refused with a 400, and a prompt that fits but leaves less room than `max_tokens` lets
the answer stop at `model_context_window_exceeded`, billed and useless to a run that needs a complete JSON
object. So a run needs its prompt plus `max_tokens` within the window, and finds out before it asks.

The local estimate (`dealgraph.claude.tokens`) is free and instant but only approximate, so it decides alone
only when it is clear by `ESTIMATE_ERROR` either way; in between, `count_tokens` decides. That endpoint is
free (https://platform.claude.com/docs/en/build-with-claude/token-counting; rate-limited on its own,
apart from message creation) and its count "should be considered an estimate" too, which the margin of a
near miss cannot do better than.
"""

from __future__ import annotations

import logging

from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest
from dealgraph.claude.models import capabilities
from dealgraph.claude.tokens import estimate_prompt_tokens

log = logging.getLogger(__name__)

ESTIMATE_ERROR = 0.25
"""How far the local estimate may be from the API's count, either way: transcripts full of names, numbers and
timestamps tokenize denser than prose, plain prose looser."""


async def overflow(llm: LlmClient, request: StructuredRequest) -> str | None:
    """Why the call cannot fit its model's window, or None when it fits (or the count could not be had: the
    API stays the judge, and refuses an over-long prompt with an unbilled 400)."""
    window = capabilities(request.model).context_window
    estimate = estimate_prompt_tokens(request)
    room = window - request.max_tokens
    if estimate * (1 + ESTIMATE_ERROR) <= room:
        return None
    if estimate * (1 - ESTIMATE_ERROR) > room:
        return _too_long(request, window, f"about {estimate:,} input tokens (estimated)")
    try:
        counted, _simulated = await llm.count_tokens(request)
    except LlmError as error:
        log.warning("count_tokens failed (%s); sending a call estimated at %d tokens", error, estimate)
        return None
    return _too_long(request, window, f"{counted:,} input tokens (counted)") if counted > room else None


def _too_long(request: StructuredRequest, window: int, tokens: str) -> str:
    return (
        f"the call does not fit {request.model}'s context window: {tokens} plus max_tokens "
        f"{request.max_tokens:,} exceed its {window:,} tokens; "
        "shorten the transcript or lower the prompt version's maxTokens"
    )
