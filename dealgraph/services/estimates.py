"""What running prompt versions on a dataset would cost, before anything is sent (admins only).

Every request an experiment's candidate would send is rendered by the run's own code and counted by the
Messages API's free count_tokens endpoint; the cost is at list price (`dealgraph.claude.prices`) with every
prompt token uncached and every request using its whole `max_tokens`, so it is the most the requests can
cost, not a forecast: real answers stop earlier and cache hits cost less. The batch figure is the same at
the Message Batches price.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS
from dealgraph.claude.client import LlmClient, LlmError, StructuredRequest, Usage
from dealgraph.claude.models import UnknownModel
from dealgraph.claude.prices import UnpricedModel, cost_usd
from dealgraph.db.models import DatasetVersion
from dealgraph.db.repositories import datasets
from dealgraph.db.session import TenantScope
from dealgraph.errors import BadUserInput, NotFound
from dealgraph.prompts.request import tenant_cache_key
from dealgraph.prompts.templates import TemplateRenderError
from dealgraph.runs.inputs import load_call, load_version

_COUNTS_AT_ONCE = 8
"""count_tokens requests in flight at once: it is rate limited like the Messages API."""


@dataclass(frozen=True, slots=True)
class Estimate:
    requests: int
    input_tokens: int
    max_output_tokens: int
    live_cost_usd: float
    batch_cost_usd: float
    simulated: bool
    """Counted by the local stand-in, whose token counts are themselves estimates."""
    judge_requests: int = 0
    judge_cost_usd: float = 0.0
    """The pairwise judge's requests among `requests`, and their cost in both figures (`judged_by`)."""

    def judged_by(self, judging: Estimate) -> Estimate:
        """These answers' requests with the judge's that compare them, at the LIVE price in both figures: the
        judge reads the answers, so its requests are sent after them and cannot join their batch."""
        return Estimate(
            requests=self.requests + judging.requests,
            input_tokens=self.input_tokens + judging.input_tokens,
            max_output_tokens=self.max_output_tokens + judging.max_output_tokens,
            live_cost_usd=round(self.live_cost_usd + judging.live_cost_usd, 4),
            batch_cost_usd=round(self.batch_cost_usd + judging.live_cost_usd, 4),
            simulated=self.simulated or judging.simulated,
            judge_requests=judging.requests,
            judge_cost_usd=judging.live_cost_usd,
        )


@dataclass(frozen=True, slots=True)
class Wanted:
    """One request to price: an agent's prompt version on a call, or the pairwise judge's comparing two answers
    of that agent there."""

    transcript_id: uuid.UUID
    agent: str
    version_id: uuid.UUID
    judged: tuple[uuid.UUID, uuid.UUID] | None = None
    """A judge's request (`version_id` the judge's): the prompt versions of the answers it reads. They do not
    exist yet, so each is counted as its version's whole `max_tokens` on top of the rest of the prompt."""


@dataclass(frozen=True, slots=True)
class _Priced:
    item: Wanted
    request: StructuredRequest
    answer_tokens: int
    """Input tokens count_tokens cannot see: a judge's answers (see `Wanted.judged`)."""


async def _requests(scope: TenantScope, llm: LlmClient, wanted: list[Wanted]) -> list[_Priced]:
    """Each wanted request as the run would send it; a call deleted since its dataset version was frozen is left
    out."""
    tenant_key = tenant_cache_key(scope.tenant_id, llm.settings.anthropic_api_key)
    version_ids = {item.version_id for item in wanted} | {v for item in wanted for v in item.judged or ()}
    async with scope.session() as session:
        pinned = {v: await load_version(session, v) for v in version_ids}
    calls = {t: await load_call(scope.database.reads, scope.tenant_id, t) for t in {w.transcript_id for w in wanted}}
    requests = []
    for item in wanted:
        call, found = calls[item.transcript_id], pinned[item.version_id]
        if call is None:
            continue
        answers = [pinned[v] for v in item.judged or ()]
        if found is None or None in answers:
            raise NotFound(f"The {item.agent} prompt version is gone.")
        try:
            if item.judged is None:
                request = call.with_version(*found).request(AGENTS[AgentKind(item.agent)], tenant_key=tenant_key)
            else:
                request = call.judging(found[0], item.agent).judge_request(("", ""), tenant_key=tenant_key)
        except (TemplateRenderError, UnknownModel) as error:
            raise BadUserInput(f"{item.agent}: {error}") from error
        requests.append(_Priced(item, request, sum(answer[0].max_tokens for answer in answers if answer)))
    return requests


async def priced(scope: TenantScope, llm: LlmClient, wanted: list[Wanted]) -> tuple[Estimate, list[Wanted]]:
    """The estimate of `wanted`, and those of them that can be sent (their call still exists)."""
    if not wanted:
        return Estimate(0, 0, 0, 0.0, 0.0, simulated=False), []
    requests = await _requests(scope, llm, wanted)
    gate = asyncio.Semaphore(_COUNTS_AT_ONCE)

    async def counted(priced: _Priced) -> tuple[int, bool]:
        async with gate:
            tokens, simulated = await llm.count_tokens(priced.request)
            return tokens + priced.answer_tokens, simulated

    try:
        counts = await asyncio.gather(*(counted(priced) for priced in requests))
    except LlmError as error:
        raise BadUserInput(f"count_tokens failed: {error.code} {error.message}") from error
    live = batch = 0.0
    try:
        for priced, (tokens, _) in zip(requests, counts, strict=True):
            usage = Usage(input_tokens=tokens, output_tokens=priced.request.max_tokens)
            live += cost_usd(priced.request.model, usage)
            batch += cost_usd(priced.request.model, usage, batch=True)
    except UnpricedModel as error:
        raise BadUserInput(str(error)) from error
    found = Estimate(
        requests=len(requests),
        input_tokens=sum(tokens for tokens, _ in counts),
        max_output_tokens=sum(priced.request.max_tokens for priced in requests),
        live_cost_usd=round(live, 4),
        batch_cost_usd=round(batch, 4),
        simulated=any(simulated for _, simulated in counts),
    )
    return found, [priced.item for priced in requests]


async def frozen_calls(scope: TenantScope, dataset_id: uuid.UUID | None, version: int | None) -> DatasetVersion:
    """The dataset version (the latest when none is named); NotFound when there is none."""
    async with scope.session() as session:
        frozen = None
        if dataset_id is not None:
            frozen = await (
                datasets.latest_version(session, dataset_id)
                if version is None
                else datasets.version(session, dataset_id, version)
            )
    if frozen is None:
        raise NotFound("Dataset or dataset version not found.")
    return frozen


async def estimate(
    scope: TenantScope,
    llm: LlmClient,
    dataset_id: uuid.UUID | None,
    version: int | None,
    agents: list[AgentKind],
    label: str,
) -> Estimate:
    frozen = await frozen_calls(scope, dataset_id, version)
    async with scope.session() as session:
        versions = await datasets.labelled_versions(session, label, [agent.value for agent in agents])
    missing = [agent.value for agent in agents if agent.value not in versions]
    if missing:
        raise NotFound(f"No '{label}' prompt for: {', '.join(missing)}.")
    wanted = [Wanted(t, agent, version_id) for t in frozen.transcript_ids for agent, version_id in versions.items()]
    found, _ = await priced(scope, llm, wanted)
    return found
