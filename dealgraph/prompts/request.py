"""What an agent sends to Claude.

Every request starts with a block naming the tenant by an opaque value (`tenant_cache_key`), then the
pinned prompt version's system text, then the transcript with `cache_control`. The prompt cache matches
exact prefixes and is shared by every request of the API key's workspace
(https://platform.claude.com/docs/en/build-with-claude/prompt-caching, "Cache isolation"), and all tenants
of a deployment send under one key: without the tenant block, a tenant whose first run on a transcript
read the cache would learn that another tenant had analysed exactly that call. With it, the cached prefix
is the tenant's own, while the agents of one analysis still send identical prefixes and can share one
cache entry for the transcript (see `dealgraph.runs.cache_sharing` for when that entry becomes readable).
The pinned prompt version's rendered user template comes after, in the user turn, and the agent's answer
is asked for as JSON outputs in its own schema. The transcript is shown preprocessed (fillers removed)
with each line's index, which is how evidence quotes map back to the original text.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from dealgraph.agents.evidence import EvidenceLocator
from dealgraph.agents.judge import judge_schema
from dealgraph.agents.registry import AgentDefinition, shared_output_schema
from dealgraph.claude.client import StructuredRequest
from dealgraph.claude.models import Effort
from dealgraph.prompts.templates import RenderedTemplates
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import render_for_prompt


@dataclass(frozen=True)
class TranscriptForPrompt:
    """A call as its agents see it. The agents of an analysis share one (see `CallInputs`), so what is derived
    from it is derived once for all four: the prompt's transcript block, and the evidence locator."""

    title: str
    occurred_at: datetime
    utterances: tuple[Utterance, ...]
    lines: str
    """The utterances as `render_for_prompt` shows them: rendered once, for the block and the templates."""

    @classmethod
    def of(cls, title: str, occurred_at: datetime, utterances: tuple[Utterance, ...]) -> TranscriptForPrompt:
        """For a call whose lines no one has rendered yet (`load_call` has them from its `PromptContext`)."""
        return cls(title, occurred_at, utterances, render_for_prompt(utterances))

    @cached_property
    def block(self) -> str:
        return f'<transcript title="{self.title}" date="{self.occurred_at:%Y-%m-%d}">\n{self.lines}\n</transcript>'

    @cached_property
    def evidence(self) -> EvidenceLocator:
        return EvidenceLocator(self.utterances)


def tenant_cache_key(tenant_id: uuid.UUID, secret: str | None) -> str:
    """The tenant as its prompts name it: an HMAC of its id keyed with the Claude API key.

    The key is the secret every process of a deployment already shares (the agents of one analysis send
    the same value whichever process runs them) and no tenant knows, so no one can compute another tenant's
    value, and the tenant's id never reaches the provider. Without a key (the stand-in) it is keyed with ""."""
    return hmac.new((secret or "").encode(), tenant_id.bytes, hashlib.sha256).hexdigest()[:32]


def tenant_block(tenant_key: str) -> dict[str, str]:
    """The first system block: ahead of every cache breakpoint, so every cached prefix is the tenant's own."""
    return {"type": "text", "text": f"Tenant reference: {tenant_key}"}


def build_request(
    agent: AgentDefinition,
    transcript: TranscriptForPrompt,
    prompt: RenderedTemplates,
    *,
    tenant_key: str,
    model: str,
    max_tokens: int,
    effort: Effort,
    shared_schema: bool = False,
) -> StructuredRequest:
    """`tenant_key`: see `tenant_cache_key`. `shared_schema`: ask for the answer in the schema all agents share
    (see `registry.shared_output_schema`), so the agents' prompts are identical up to the transcript and can
    share its cache entry."""
    key = agent.kind.value if shared_schema else None
    user = prompt.user if key is None else f"{prompt.user}\n\n{_answer_under(key)}"
    schema = shared_output_schema() if shared_schema else agent.output_schema
    return _request(transcript, prompt.system, user, schema, key, tenant_key, model, max_tokens, effort)


def build_judge_request(
    transcript: TranscriptForPrompt,
    prompt: RenderedTemplates,
    answers: tuple[str, str],
    *,
    tenant_key: str,
    model: str,
    max_tokens: int,
    effort: Effort,
) -> StructuredRequest:
    """The pairwise judge's request: laid out as an agent's, with the two answers (JSON, in the order shown)
    after its rendered user template, where no template can leave them out."""
    first, second = answers
    user = f'{prompt.user}\n\n<answer id="A">\n{first}\n</answer>\n\n<answer id="B">\n{second}\n</answer>'
    return _request(transcript, prompt.system, user, judge_schema(), None, tenant_key, model, max_tokens, effort)


def _request(
    transcript: TranscriptForPrompt,
    system: str,
    user: str,
    schema: dict[str, Any],
    answer_key: str | None,
    tenant_key: str,
    model: str,
    max_tokens: int,
    effort: Effort,
) -> StructuredRequest:
    return StructuredRequest(
        model=model,
        max_tokens=max_tokens,
        effort=effort,
        system=[
            tenant_block(tenant_key),
            {"type": "text", "text": system},
            {"type": "text", "text": transcript.block, "cache_control": {"type": "ephemeral"}},
        ],
        messages=[{"role": "user", "content": user}],
        schema=schema,
        answer_key=answer_key,
    )


def _answer_under(key: str) -> str:
    return f"Put your answer under the `{key}` key of the JSON object and set every other key to null."


def retry_messages(
    request: StructuredRequest, answer: Sequence[dict[str, Any]], problems: Sequence[str]
) -> list[dict[str, Any]]:
    """The conversation for the one retry after invalid output: the model sees its answer and what was wrong.

    The assistant turn goes back as it came, thinking blocks and their signatures included: the API
    verifies them, and a modified or dropped thinking block is an error on thinking models. Only blank text
    blocks are left out, because the API refuses them with a 400 ("text content blocks must contain
    non-whitespace text"); a turn left with nothing is not sent (two user turns in a row are one turn).
    """
    listing = "\n".join(f"- {problem}" for problem in problems)
    where = "" if request.answer_key is None else f" {_answer_under(request.answer_key)}"
    kept = [block for block in answer if block.get("type") != "text" or str(block.get("text", "")).strip()]
    return [
        *request.messages,
        *([{"role": "assistant", "content": kept}] if kept else []),
        {
            "role": "user",
            "content": f"Your answer does not satisfy the schema's constraints:\n{listing}\n"
            f"Answer again with the complete, corrected JSON object.{where}",
        },
    ]
