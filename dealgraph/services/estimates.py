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


async def _requests(
    scope: TenantScope, llm: LlmClient, transcript_ids: list[uuid.UUID], versions: dict[str, uuid.UUID]
) -> list[StructuredRequest]:
    tenant_key = tenant_cache_key(scope.tenant_id, llm.settings.anthropic_api_key)
    async with scope.session() as session:
        pinned = {agent: await load_version(session, version_id) for agent, version_id in versions.items()}
    requests = []
    for transcript_id in transcript_ids:
        call = await load_call(scope.database.reads, scope.tenant_id, transcript_id)
        if call is None:  # deleted since the version was frozen
            continue
        for agent, found in pinned.items():
            if found is None:
                raise NotFound(f"The {agent} prompt version is gone.")
            try:
                request = call.with_version(*found).request(AGENTS[AgentKind(agent)], tenant_key=tenant_key)
            except (TemplateRenderError, UnknownModel) as error:
                raise BadUserInput(f"{agent}: {error}") from error
            requests.append(request)
    return requests


async def estimate(
    scope: TenantScope,
    llm: LlmClient,
    dataset_id: uuid.UUID | None,
    version: int | None,
    agents: list[AgentKind],
    label: str,
) -> Estimate:
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
        versions = await datasets.labelled_versions(session, label, [agent.value for agent in agents])
    missing = [agent.value for agent in agents if agent.value not in versions]
    if missing:
        raise NotFound(f"No '{label}' prompt for: {', '.join(missing)}.")
    requests = await _requests(scope, llm, list(frozen.transcript_ids), versions)
    gate = asyncio.Semaphore(_COUNTS_AT_ONCE)

    async def counted(request: StructuredRequest) -> tuple[int, bool]:
        async with gate:
            return await llm.count_tokens(request)

    try:
        counts = await asyncio.gather(*(counted(request) for request in requests))
    except LlmError as error:
        raise BadUserInput(f"count_tokens failed: {error.code} {error.message}") from error
    live = batch = 0.0
    try:
        for request, (tokens, _) in zip(requests, counts, strict=True):
            usage = Usage(input_tokens=tokens, output_tokens=request.max_tokens)
            live += cost_usd(request.model, usage)
            batch += cost_usd(request.model, usage, batch=True)
    except UnpricedModel as error:
        raise BadUserInput(str(error)) from error
    return Estimate(
        requests=len(requests),
        input_tokens=sum(tokens for tokens, _ in counts),
        max_output_tokens=sum(request.max_tokens for request in requests),
        live_cost_usd=round(live, 4),
        batch_cost_usd=round(batch, 4),
        simulated=any(simulated for _, simulated in counts),
    )
