"""Everything one agent call is made of, read from the database: transcript, deal context, prompt version.

Shared by the runner and the `renderPrompt` preview, so a preview shows exactly what a run sends.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.agents.registry import AgentDefinition
from dealgraph.claude.client import StructuredRequest
from dealgraph.claude.models import Effort, capabilities
from dealgraph.db.models import PromptTemplate, PromptVersion
from dealgraph.db.read_pool import ReadPool
from dealgraph.db.repositories import prompts, transcripts
from dealgraph.db.session import TenantScope
from dealgraph.prompts.request import TranscriptForPrompt, build_judge_request, build_request
from dealgraph.prompts.templates import AccountInfo, DealInfo, PromptContext, render
from dealgraph.transcripts.formats import Utterance


@dataclass(frozen=True, slots=True)
class AgentInputs:
    transcript: TranscriptForPrompt
    context: PromptContext
    version: PromptVersion

    @property
    def effort(self) -> Effort:
        """The version's effort; versions saved before effort existed run at their model's default."""
        return self.version.effort or capabilities(self.version.model).default_effort

    def request(self, agent: AgentDefinition, *, tenant_key: str, shared_schema: bool = False) -> StructuredRequest:
        """Raises TemplateRenderError if the version cannot render with this call's values.
        `tenant_key`: the tenant's `prompts.request.tenant_cache_key`, which leads every cached prefix."""
        rendered = render(self.version.system_text, self.version.user_template, self.context)
        return build_request(
            agent,
            self.transcript,
            rendered,
            tenant_key=tenant_key,
            model=self.version.model,
            max_tokens=self.version.max_tokens,
            effort=self.effort,
            shared_schema=shared_schema,
        )

    def judge_request(self, answers: tuple[str, str], *, tenant_key: str) -> StructuredRequest:
        """The pairwise judge's request (this version being the judge's) on the two answers, in the order shown."""
        rendered = render(self.version.system_text, self.version.user_template, self.context)
        return build_judge_request(
            self.transcript,
            rendered,
            answers,
            tenant_key=tenant_key,
            model=self.version.model,
            max_tokens=self.version.max_tokens,
            effort=self.effort,
        )


@dataclass(frozen=True, slots=True)
class CallInputs:
    """The call's side of the inputs, the same for every agent of an analysis (its context's `agent` is blank)."""

    transcript: TranscriptForPrompt
    context: PromptContext

    def with_version(self, version: PromptVersion, template: PromptTemplate) -> AgentInputs:
        return AgentInputs(self.transcript, replace(self.context, agent=template.agent), version)

    def judging(self, version: PromptVersion, agent: str) -> AgentInputs:
        """With a version of the pairwise judge, comparing `agent`'s answers: the templates' `agent` is that agent."""
        return AgentInputs(self.transcript, replace(self.context, agent=agent), version)


async def load_inputs(
    scope: TenantScope, session: AsyncSession, *, transcript_id: uuid.UUID, prompt_version_id: uuid.UUID
) -> AgentInputs | None:
    """None when any of them is gone (or, in the tenant's scope, not visible); `session` is one of `scope`'s."""
    call = await load_call(scope.database.reads, scope.tenant_id, transcript_id)
    pinned = await load_version(session, prompt_version_id)
    return call.with_version(*pinned) if call is not None and pinned is not None else None


async def load_version(
    session: AsyncSession, prompt_version_id: uuid.UUID
) -> tuple[PromptVersion, PromptTemplate] | None:
    version = await prompts.get_version(session, prompt_version_id)
    template = await prompts.get_template(session, version.template_id) if version else None
    return (version, template) if version is not None and template is not None else None


async def load_call(reads: ReadPool, tenant_id: uuid.UUID, transcript_id: uuid.UUID) -> CallInputs | None:
    call = await transcripts.call_for_prompt(reads, tenant_id, transcript_id)
    if call is None:
        return None
    utterances = tuple(Utterance(*utterance) for utterance in call.utterances)
    context = PromptContext.for_call(
        utterances,
        title=call.title,
        occurred_on=call.occurred_at.date(),
        deal=DealInfo(
            name=call.deal_name,
            stage=call.stage,
            amount=str(call.amount) if call.amount is not None else None,
            currency=call.currency,
            close_date=call.close_date.isoformat() if call.close_date else None,
        ),
        account=AccountInfo(name=call.account_name, domain=call.domain),
        agent="",
    )
    # the templates' `transcript` is the block's text: rendered once for both
    return CallInputs(TranscriptForPrompt(call.title, call.occurred_at, utterances, context.transcript), context)
