"""Prompt experiments (admins only): a candidate prompt version run on a dataset version beside a baseline.

Starting one estimates it first (`estimate`, at the mode's price) and refuses it over the budget: the
call's `budgetUsd`, else the tenant's (`applied_experiment_budget`: the one its admins set, never above the
server's `experiment_budget_usd`); a `budgetUsd` may only lower the tenant's. The baseline is only run where no analysis
already stored a result of that prompt version on the call. The requests are then rows the experiment pool
sends (`dealgraph.runs.experiment_pool`); promotion moves the `production` label through the prompt label
mechanism, with the experiment in the label's audit.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any, NamedTuple

from dealgraph.agents.judge import PAIRWISE_JUDGE
from dealgraph.agents.kinds import AgentKind
from dealgraph.claude.batches import LlmBatches
from dealgraph.claude.client import LlmClient, LlmError
from dealgraph.db.models import AgentRun, DatasetVersion, Experiment, ExperimentRequest, RequestSide, ResultCorrection
from dealgraph.db.repositories import corrections, datasets, experiments, prompts, tenancy
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode, NotFound
from dealgraph.fanout.hub import RESYNC, Event, NotificationHub
from dealgraph.services.estimates import Estimate, Wanted, frozen_calls, priced
from dealgraph.services.experiment_scores import Score, Verdict, compare, summarize
from dealgraph.validation import InvalidInput

PRODUCTION = "production"


class ExperimentMode(enum.StrEnum):
    BATCH = "BATCH"
    LIVE = "LIVE"


class ExperimentStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"


class RequestState(enum.StrEnum):
    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    STORED = "stored"
    """The baseline's result an analysis had already stored: not sent again."""
    SKIPPED = "skipped"
    """A pairwise judge's request not sent: one of the two answers it would compare failed."""


@dataclass(frozen=True, slots=True)
class PromptPick:
    """A label (its version per agent) or one prompt version (for its agent)."""

    label: str | None = None
    version_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Compared:
    """What an experiment runs and compares: the calls, the agents, the two prompts and, with `pairwise`, the
    judge (its `production` label unless `judge` picks another label or one of its versions)."""

    dataset_id: uuid.UUID | None
    dataset_version: int | None
    agents: list[AgentKind]
    baseline: PromptPick
    candidate: PromptPick
    pairwise: bool = False
    judge: PromptPick | None = None


@dataclass(frozen=True, slots=True)
class NewExperiment:
    compared: Compared
    mode: ExperimentMode
    budget_usd: float | None


Where = tuple[str, ...]
"""The argument a request's fields are under: `("input",)` for startExperiment's, `()` for a query's own."""


class Picked(NamedTuple):
    name: str
    """As the experiment shows it: the label, or `version N`."""
    versions: dict[str, uuid.UUID]

    def saved(self) -> dict[str, Any]:
        """As the experiment's row keeps it (JSON)."""
        return {"name": self.name, "versions": {agent: str(version) for agent, version in self.versions.items()}}


async def _versions(scope: TenantScope, pick: PromptPick, names: list[str], where: Where, side: str) -> Picked:
    """Per name (the agents', or the judge's alone), the version `pick` means."""
    at = (*where, side)
    judging = names == [PAIRWISE_JUDGE]
    if (pick.label is None) == (pick.version_id is None):
        raise InvalidInput.at(at, "give a label or a versionId")
    async with scope.session() as session:
        if pick.label is not None:
            found = await datasets.labelled_versions(session, pick.label, names)
            missing = [name for name in names if name not in found]
            if missing:
                whose = "the pairwise judge" if judging else ", ".join(missing)
                raise InvalidInput.at(at, f"no '{pick.label}' prompt for: {whose}", ErrorCode.NOT_FOUND)
            return Picked(pick.label, found)
        version = await prompts.get_version(session, pick.version_id) if pick.version_id else None
        template = await prompts.get_template(session, version.template_id) if version else None
    if version is None or template is None:
        raise InvalidInput.at((*at, "version_id"), "no such prompt version", ErrorCode.NOT_FOUND)
    if judging and template.agent != PAIRWISE_JUDGE:
        raise InvalidInput.at((*at, "version_id"), f"a {template.agent} agent's version is not the pairwise judge's")
    if not judging and template.agent == PAIRWISE_JUDGE:
        raise InvalidInput.at(
            (*at, "version_id"), "a pairwise judge's version is not an agent's: pick it as the judge (pairwise: true)"
        )
    if names != [template.agent]:
        raise InvalidInput.at((*where, "agents"), f"a prompt version is for one agent: give agents: [{template.agent}]")
    return Picked(f"version {version.version}", {template.agent: version.id})


async def _judge_version(scope: TenantScope, compared: Compared, where: Where) -> uuid.UUID | None:
    """The pairwise judge's version `judge` picks (its `production` label, the tenant's override first, when
    none is picked); None without `pairwise`."""
    if not compared.pairwise:
        if compared.judge is not None:
            raise InvalidInput.at((*where, "judge"), "only a pairwise experiment has a judge: give pairwise: true")
        return None
    if compared.judge is None:  # a missing production label is the pairwise option's problem, not a judge's
        picked = await _versions(scope, PromptPick(label=PRODUCTION), [PAIRWISE_JUDGE], where, "pairwise")
    else:
        picked = await _versions(scope, compared.judge, [PAIRWISE_JUDGE], where, "judge")
    return picked.versions[PAIRWISE_JUDGE]


async def _budget(scope: TenantScope, llm: LlmClient, asked: float | None) -> float:
    """The call's budget, else the tenant's; a call may ask for less than its tenant's, never more."""
    if asked is not None and asked < 0:
        raise InvalidInput.at(("input", "budget_usd"), "must be 0 or more")
    async with scope.session() as session:
        tenant = await tenancy.current_tenant(session)
    ceiling = tenancy.applied_experiment_budget(llm.settings.experiment_budget_usd, tenant.experiment_budget_usd)
    if asked is not None and asked > ceiling:
        raise InvalidInput.at(
            ("input", "budget_usd"),
            f"must be at most ${ceiling:.4f}, your tenant's experiment budget (appliedExperimentBudgetUsd)",
        )
    return ceiling if asked is None else asked


@dataclass(frozen=True, slots=True)
class _Plan:
    """An experiment resolved and priced: what `start` saves, and the estimate `estimate` shows before."""

    frozen: DatasetVersion
    agents: list[str]
    baseline: Picked
    candidate: Picked
    judge: uuid.UUID | None
    stored: dict[tuple[uuid.UUID, str], AgentRun]
    """The baseline's results analyses already stored: not sent again."""
    answers: list[tuple[RequestSide, Wanted]]
    judged: list[Wanted]
    estimate: Estimate


async def _plan(scope: TenantScope, llm: LlmClient, compared: Compared, where: Where) -> _Plan:
    """The candidate on every call, the baseline where no analysis stored a result of its version, and with
    `pairwise` a judge's request per call and agent, priced at the LIVE price (see `Estimate.judged_by`); a
    call deleted since its dataset version was frozen is left out."""
    if not compared.agents:
        raise InvalidInput.at((*where, "agents"), "name at least one agent")
    agents = list(dict.fromkeys(agent.value for agent in compared.agents))
    frozen = await frozen_calls(scope, compared.dataset_id, compared.dataset_version)
    baseline = await _versions(scope, compared.baseline, agents, where, "baseline")
    candidate = await _versions(scope, compared.candidate, agents, where, "candidate")
    judge = await _judge_version(scope, compared, where)
    async with scope.session() as session:
        stored = await experiments.stored_results(session, frozen.transcript_ids, baseline.versions)
    wanted = [
        (side, Wanted(transcript_id, agent, versions[agent]))
        for transcript_id in frozen.transcript_ids
        for agent in agents
        for side, versions in ((RequestSide.CANDIDATE, candidate.versions), (RequestSide.BASELINE, baseline.versions))
        if side is RequestSide.CANDIDATE or (transcript_id, agent) not in stored
    ]
    judged = [
        Wanted(transcript_id, agent, judge, (baseline.versions[agent], candidate.versions[agent]))
        for transcript_id in frozen.transcript_ids
        for agent in agents
        if judge is not None
    ]
    answering, sendable = await priced(scope, llm, [item for _, item in wanted])
    judging, judgeable = await priced(scope, llm, judged)
    kept = set(sendable)
    answers = [(side, item) for side, item in wanted if item in kept]
    return _Plan(frozen, agents, baseline, candidate, judge, stored, answers, judgeable, answering.judged_by(judging))


async def estimate(scope: TenantScope, llm: LlmClient, compared: Compared) -> Estimate:
    """Exactly what `start` checks against the budget (`batch_cost_usd` in BATCH mode, `live_cost_usd` in
    LIVE); its field errors name the query's own arguments (`baseline`, `judge`), not an `input`'s."""
    return (await _plan(scope, llm, compared, ())).estimate


async def start(scope: TenantScope, llm: LlmClient, user_id: uuid.UUID | None, new: NewExperiment) -> Experiment:
    """With `pairwise`, each call and agent also gets a judge request, sent once both answers are in; it is
    priced at the LIVE price whatever the mode (see `dealgraph.runs.experiment_pool`)."""
    budget = await _budget(scope, llm, new.budget_usd)
    plan = await _plan(scope, llm, new.compared, ("input",))
    found = plan.estimate
    cost = found.batch_cost_usd if new.mode is ExperimentMode.BATCH else found.live_cost_usd
    if cost > budget:
        judges = f", {found.judge_requests} of them the pairwise judge's, LIVE" if found.judge_requests else ""
        raise InvalidInput.at(
            ("input", "budget_usd"),
            f"the estimate is ${cost:.4f} ({found.requests} requests{judges}, {found.input_tokens} input tokens, at "
            f"most {found.max_output_tokens} output tokens, {new.mode.value}), over the budget of ${budget:.4f}",
        )
    rows: list[dict[str, Any]] = [
        {
            "custom_id": f"{side}-{item.agent}-{index}",
            "transcript_id": item.transcript_id,
            "agent": item.agent,
            "side": side.value,
            "prompt_version_id": item.version_id,
        }
        for index, (side, item) in enumerate(plan.answers)
    ]
    rows += [
        {
            "custom_id": f"judge-{item.agent}-{index}",
            "transcript_id": item.transcript_id,
            "agent": item.agent,
            "side": RequestSide.JUDGE.value,
            "prompt_version_id": item.version_id,
            "shown_first": (RequestSide.BASELINE if index % 2 == 0 else RequestSide.CANDIDATE).value,
        }
        for index, item in enumerate(plan.judged)
    ]
    rows += [
        {
            "custom_id": f"stored-{run.agent}-{index}",
            "transcript_id": transcript_id,
            "agent": run.agent,
            "side": RequestSide.BASELINE.value,
            "prompt_version_id": run.prompt_version_id,
            "state": RequestState.STORED.value,
            "result": run.result,
            "evidence_verified": (run.metadata_ or {}).get("evidence_verified", 0),
            "evidence_total": (run.metadata_ or {}).get("evidence_total", 0),
            "input_tokens": run.input_tokens,
            "output_tokens": run.output_tokens,
            "latency_ms": run.latency_ms,
        }
        for index, ((transcript_id, _), run) in enumerate(plan.stored.items())
    ]
    values = {
        "tenant_id": scope.tenant_id,
        "dataset_id": plan.frozen.dataset_id,
        "dataset_version": plan.frozen.version,
        "agents": plan.agents,
        "baseline": plan.baseline.saved(),
        "candidate": plan.candidate.saved(),
        "mode": new.mode.value,
        "estimate": {"cost_usd": cost, "requests": found.requests, "input_tokens": found.input_tokens},
        "budget_usd": budget,
        "judge_version_id": plan.judge,
        "created_by_id": user_id,
    }
    async with scope.session() as session:
        return await experiments.add(session, values, rows)


async def cancel(scope: TenantScope, llm: LlmClient, experiment_id: uuid.UUID | None) -> Experiment:
    """Unsent requests end canceled; a batch is canceled at the API (answered requests keep their results)."""
    async with scope.session() as session:
        found = await experiments.request_cancel(session, experiment_id) if experiment_id else None
        if found is None:
            current = await experiments.get(session, experiment_id) if experiment_id else None
            if current is None:
                raise InvalidInput.at(("id",), "no such experiment", ErrorCode.NOT_FOUND)
            raise InvalidInput.at(("id",), f"the experiment has already ended ({current.status})", ErrorCode.CONFLICT)
    if found.batch_id is not None:
        try:
            await LlmBatches(llm).cancel(found.batch_id)
        except LlmError as error:
            raise InvalidInput.at(("id",), f"the batch could not be canceled: {error.code} {error.message}") from error
    return found


@dataclass(frozen=True, slots=True)
class Progress:
    experiment: Experiment
    states: dict[str, int]

    @property
    def ended(self) -> bool:
        return self.experiment.status not in (ExperimentStatus.QUEUED, ExperimentStatus.RUNNING)


async def progress(scope: TenantScope, experiment_id: uuid.UUID) -> Progress | None:
    async with scope.session() as session:
        experiment = await experiments.get(session, experiment_id)
        return (
            None if experiment is None else Progress(experiment, await experiments.state_counts(session, experiment_id))
        )


async def experiment_events(
    scope: TenantScope, hub: NotificationHub, experiment_id: uuid.UUID | None
) -> AsyncGenerator[Progress, None]:
    """The experiment's progress now, then each time answers are stored, its batch is sent or it ends; completes
    once it has ended. Subscribed before the first read, so no change falls between the two; after a lost
    connection to the event source (RESYNC) the progress is simply read again."""
    tenant, target = str(scope.tenant_id), str(experiment_id)

    def accepts(event: Event) -> bool:
        return event is RESYNC or (event.get("kind") == experiments.EXPERIMENT_EVENT and event.get("tenant") == tenant)

    async with hub.subscribe(accepts, (experiments.TOPIC_FIELD, target)) as subscription:
        current = await progress(scope, experiment_id) if experiment_id else None
        if current is None:
            raise NotFound("Experiment not found.")
        yield current
        while not current.ended:
            await subscription.queue.get()
            found = await progress(scope, current.experiment.id)
            if found is None:  # deleted with its dataset
                return
            current = found
            yield current


async def get(scope: TenantScope, experiment_id: uuid.UUID | None) -> Experiment | None:
    if experiment_id is None:
        return None
    async with scope.session() as session:
        return await experiments.get(session, experiment_id)


async def list_experiments(scope: TenantScope) -> list[Experiment]:
    async with scope.session() as session:
        return await experiments.all_experiments(session)


async def requests_and_corrections(
    scope: TenantScope, experiment_id: uuid.UUID
) -> tuple[list[ExperimentRequest], list[ResultCorrection]]:
    async with scope.session() as session:
        rows = await experiments.requests_of(session, experiment_id)
        found = await corrections.of_calls(session, list({row.transcript_id for row in rows}))
    return rows, found


async def promote(
    scope: TenantScope, actor: uuid.UUID | None, experiment_id: uuid.UUID | None, force: bool
) -> Experiment:
    """Moves `production` to the candidate's versions, each with the experiment in its audit entry."""
    experiment = await get(scope, experiment_id)
    if experiment is None or experiment_id is None:
        raise InvalidInput.at(("id",), "no such experiment", ErrorCode.NOT_FOUND)
    if experiment.status != ExperimentStatus.SUCCEEDED:
        raise InvalidInput.at(
            ("id",), f"only a finished experiment can be promoted (it is {experiment.status})", ErrorCode.CONFLICT
        )
    rows, found = await requests_and_corrections(scope, experiment_id)
    summary = summarize(compare(rows, found))
    worse = summary.candidate.schema_failures > summary.baseline.schema_failures
    if (worse or summary.counts[Score.SCHEMA_FAILURES][Verdict.REGRESSED]) and not force:
        raise InvalidInput.at(
            ("force",),
            f"the candidate regressed on schema failures ({summary.candidate.schema_failures} against the baseline's "
            f"{summary.baseline.schema_failures}); give force: true to promote it anyway",
            ErrorCode.CONFLICT,
        )
    async with scope.session() as session:
        for agent, version_id in experiment.candidate["versions"].items():
            version = await prompts.get_version(session, uuid.UUID(version_id))
            template = await prompts.get_template(session, version.template_id) if version else None
            if version is None or template is None or template.tenant_id != scope.tenant_id:
                raise InvalidInput.at(
                    ("id",), f"the {agent} candidate is not one of your prompt versions", ErrorCode.CONFLICT
                )
            await prompts.lock_template(session, template.id)
            await prompts.move_label(
                session,
                template,
                PRODUCTION,
                version,
                actor_id=actor,
                action=prompts.LABEL_SET,
                experiment_id=experiment.id,
            )
        await experiments.mark_promoted(session, experiment.id)
        promoted = await experiments.get(session, experiment.id)
    assert promoted is not None
    return promoted
