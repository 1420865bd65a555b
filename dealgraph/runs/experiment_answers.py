"""What an experiment stores of one answer: the output parsed and its evidence verified exactly as an analysis
would (`parse_output`, `verify_evidence`), or the failure's code, with its tokens and cost. The pairwise judge's
verdicts are stored the same way, their quotes verified against the call like an agent's.

Unlike an analysis there is no validation retry: an answer that does not match the schema is scored as the
schema failure (INVALID_OUTPUT) it is, which is what a candidate prompt is compared on.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from dealgraph.agents.judge import PAIRWISE_JUDGE, PairwiseJudgeOutput
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import count_evidence, verify_evidence
from dealgraph.agents.registry import AGENTS
from dealgraph.claude.client import Completion, LlmError, StructuredRequest
from dealgraph.claude.models import UnknownModel
from dealgraph.claude.prices import UnpricedModel, cost_usd
from dealgraph.db.session import Database
from dealgraph.prompts.request import TranscriptForPrompt, tenant_cache_key
from dealgraph.prompts.templates import TemplateRenderError
from dealgraph.runs.inputs import load_call, load_version
from dealgraph.runs.runner import parse_output, validation_problems


@dataclass(frozen=True, slots=True)
class Pending:
    custom_id: str
    transcript_id: uuid.UUID
    agent: str
    prompt_version_id: uuid.UUID
    shown: tuple[str, str] | None = None
    """A pairwise judge's request (`prompt_version_id` the judge's): the two answers of `agent` it compares,
    as JSON, in the order it is shown them."""

    @property
    def answering(self) -> str:
        """Whose answer this request asks for: the agent's, or the judge's."""
        return self.agent if self.shown is None else PAIRWISE_JUDGE


@dataclass(frozen=True, slots=True)
class Prepared:
    request: StructuredRequest
    transcript: TranscriptForPrompt


async def prepare(
    database: Database, tenant_id: uuid.UUID, api_key: str | None, pending: list[Pending]
) -> tuple[dict[str, Prepared], dict[str, dict[str, Any]]]:
    """The request each pending custom id sends, rendered by the run's own code; and the stored failure of
    those that cannot be sent (call or version gone, template that does not render), unbilled."""
    tenant_key = tenant_cache_key(tenant_id, api_key)
    prepared: dict[str, Prepared] = {}
    unsendable: dict[str, dict[str, Any]] = {}
    async with database.tenant_session(tenant_id) as session:
        versions = {item.prompt_version_id: await load_version(session, item.prompt_version_id) for item in pending}
    calls = {t: await load_call(database.reads, tenant_id, t) for t in {item.transcript_id for item in pending}}
    for item in pending:
        call, pinned = calls[item.transcript_id], versions[item.prompt_version_id]
        if call is None or pinned is None:
            unsendable[item.custom_id] = failure("NOT_FOUND", "the call or the prompt version is gone")
            continue
        try:
            if item.shown is None:
                request = call.with_version(*pinned).request(AGENTS[AgentKind(item.agent)], tenant_key=tenant_key)
            else:
                request = call.judging(pinned[0], item.agent).judge_request(item.shown, tenant_key=tenant_key)
        except TemplateRenderError as error:
            unsendable[item.custom_id] = failure("PROMPT_RENDER_FAILED", str(error))
            continue
        except UnknownModel as error:
            unsendable[item.custom_id] = failure("MODEL_UNKNOWN", str(error))
            continue
        prepared[item.custom_id] = Prepared(request, call.transcript)
    return prepared, unsendable


def failure(code: str, message: str) -> dict[str, Any]:
    return {"state": "failed", "error_code": code, "error_message": message[:2000]}


def answered(
    answering: str,
    prepared: Prepared,
    completion: Completion | None,
    error: LlmError | None,
    *,
    batch: bool,
    latency_ms: int | None,
) -> dict[str, Any]:
    """The request row's values for an answer (`completion`) or a failure (`error`) of `answering`: an agent,
    or the pairwise judge (`Pending.answering`), whose quotes are verified as an agent's are."""
    if completion is None:
        assert error is not None
        if error.code in ("BATCH_CANCELED", "BATCH_EXPIRED"):
            return {
                "state": "canceled" if error.code == "BATCH_CANCELED" else "failed",
                "error_code": error.code,
                "error_message": error.message,
            }
        return {**failure(error.code, error.message), **_billed(prepared, error.usage, batch=batch)}
    values = {**_billed(prepared, completion.usage, batch=batch), "latency_ms": latency_ms}
    try:
        output = _output(answering, prepared, completion.text)
    except ValidationError as invalid:
        problems = "; ".join(validation_problems(invalid))
        return {**values, **failure("INVALID_OUTPUT", f"the output did not match the schema: {problems}")}
    output = verify_evidence(output, prepared.transcript.evidence)
    verified, total = count_evidence(output)
    return {
        **values,
        "state": "succeeded",
        "result": output.model_dump(mode="json"),
        "evidence_verified": verified,
        "evidence_total": total,
    }


def _output(answering: str, prepared: Prepared, text: str) -> BaseModel:
    """The answer's output model, post-processed as an analysis would; ValidationError if it does not match."""
    if answering == PAIRWISE_JUDGE:
        return PairwiseJudgeOutput.model_validate_json(text)
    definition = AGENTS[AgentKind(answering)]
    return definition.postprocess(parse_output(definition, prepared.request, text), prepared.transcript.utterances)


def _billed(prepared: Prepared, usage: Any, *, batch: bool) -> dict[str, Any]:
    try:
        cost = cost_usd(prepared.request.model, usage, batch=batch)
    except UnpricedModel:
        cost = 0.0
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "thinking_tokens": usage.thinking_tokens,
        "cost_usd": cost,
    }
