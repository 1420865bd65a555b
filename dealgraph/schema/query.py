"""Root query: the caller, the deal graph and transcript search, all scoped to the caller's tenant."""

from __future__ import annotations

import uuid
from dataclasses import asdict
from datetime import datetime
from typing import Annotated, Any

import strawberry
from strawberry import relay

from dealgraph.db.repositories.search import SearchFilters
from dealgraph.errors import BadUserInput
from dealgraph.schema.accounts import Account
from dealgraph.schema.analyses import Analysis
from dealgraph.schema.common import UNKNOWN_ID, SortDirection, answer
from dealgraph.schema.connections import Connection, FetchedPages, LoadedList, Pages
from dealgraph.schema.context import Context
from dealgraph.schema.datasets import Dataset, ExperimentEstimate
from dealgraph.schema.deals import Deal, DealFilter, DealOrder
from dealgraph.schema.enums import AgentKind, SearchMode, Side
from dealgraph.schema.experiments import JUDGE, Experiment, PromptPickInput
from dealgraph.schema.health import HealthSettings
from dealgraph.schema.people import ConversationFigureRange, PeopleSettings, Person, PersonOrder
from dealgraph.schema.permissions import IsAdmin
from dealgraph.schema.prompts import PromptTemplate, RenderedPrompt
from dealgraph.schema.tenancy import Viewer
from dealgraph.schema.transcripts import SearchHit, Transcript, search_hits
from dealgraph.services import accounts, deals, estimates, experiments, health, people, prompts, transcripts
from dealgraph.services import datasets as datasets_service
from dealgraph.services.deals import DealFilter as DealCriteria
from dealgraph.services.experiments import Compared, PromptPick
from dealgraph.services.ids import node_uuid
from dealgraph.services.people import PeopleFilter

Info = strawberry.Info[Context, None]


async def one_node(loader: Any, global_id: relay.GlobalID, node_type: Any) -> Any:
    """A typed single-object field: the node of that type and id if the caller may see it, else null."""
    row = await loader.load(node_uuid(global_id, node_type.__name__) or UNKNOWN_ID)
    return node_type.from_row(row) if row else None


def _optional_id(value: relay.GlobalID | None, type_name: str) -> uuid.UUID | None:
    return None if value is None else node_uuid(value, type_name) or UNKNOWN_ID


@strawberry.type
class Query:
    node: relay.Node | None = relay.node(description="Any object by its global id; null if not visible.")

    @strawberry.field
    def viewer(self, info: Info) -> Viewer:
        return Viewer(role=info.context.viewer.role)

    @relay.connection(Connection[Account], description="Accounts by name.")
    def accounts(self, info: Info, search: str | None = None) -> Pages[Account]:
        return FetchedPages(
            lambda request: accounts.list_accounts(info.context.tenant, request, search), Account.from_row
        )

    @strawberry.field
    async def account(self, info: Info, id: relay.GlobalID) -> Account | None:
        return await one_node(info.context.loaders.account, id, Account)

    @relay.connection(Connection[Deal], description="Deals, filtered and ordered (default: newest first).")
    def deals(self, info: Info, filter: DealFilter | None = None, order_by: DealOrder | None = None) -> Pages[Deal]:
        where = filter or DealFilter()
        order = order_by or DealOrder()
        criteria = DealCriteria(
            stages=where.stages,
            account_id=_optional_id(where.account_id, "Account"),
            owner_id=_optional_id(where.owner_id, "User"),
            close_date_from=where.close_date_from,
            close_date_to=where.close_date_to,
            text=where.text,
            figure=where.conversation.criteria() if where.conversation else None,
            health=where.health,
            warning=where.warning,
        )
        sort = deals.deal_sort(order.field, order.direction is SortDirection.DESC)
        return FetchedPages(
            lambda request: deals.list_deals(info.context.tenant, request, criteria, sort), Deal.from_row
        )

    @strawberry.field
    async def deal(self, info: Info, id: relay.GlobalID) -> Deal | None:
        return await one_node(info.context.loaders.deal, id, Deal)

    @relay.connection(Connection[Transcript], description="Transcripts, most recent call first.")
    def transcripts(self, info: Info, deal_id: relay.GlobalID | None = None) -> Pages[Transcript]:
        deal = _optional_id(deal_id, "Deal")
        return FetchedPages(
            lambda request: transcripts.list_transcripts(info.context.tenant, request, deal), Transcript.from_row
        )

    @strawberry.field
    async def transcript(self, info: Info, id: relay.GlobalID) -> Transcript | None:
        return await one_node(info.context.loaders.transcript, id, Transcript)

    @relay.connection(
        Connection[SearchHit],
        description='Search utterances: KEYWORD (web-search syntax: "phrase", or, -not), SEMANTIC or HYBRID. '
        "Without `mode`: HYBRID where the server has pgvector, KEYWORD elsewhere. Filters combine (AND): "
        "`speaker` matches exactly (any case), `occurredFrom` is inclusive and `occurredTo` exclusive.",
    )
    def search_transcripts(
        self,
        info: Info,
        query: str,
        deal_id: relay.GlobalID | None = None,
        mode: SearchMode | None = None,
        account_id: relay.GlobalID | None = None,
        speaker: str | None = None,
        occurred_from: datetime | None = None,
        occurred_to: datetime | None = None,
    ) -> Pages[SearchHit]:
        filters = SearchFilters(
            deal_id=_optional_id(deal_id, "Deal"),
            account_id=_optional_id(account_id, "Account"),
            speaker=speaker,
            occurred_from=occurred_from,
            occurred_to=occurred_to,
        )
        return search_hits(info, query, mode, filters)

    @relay.connection(
        Connection[Person], description="People on the tenant's calls, filtered and ordered (default: by name)."
    )
    def people(
        self,
        info: Info,
        search: str | None = None,
        side: Side | None = None,
        account_id: relay.GlobalID | None = None,
        conversation: Annotated[
            ConversationFigureRange | None,
            strawberry.argument(description="Their conversation metrics over all their calls."),
        ] = None,
        order_by: PersonOrder | None = None,
    ) -> Pages[Person]:
        where = PeopleFilter(
            search, side, _optional_id(account_id, "Account"), conversation.criteria() if conversation else None
        )
        order = order_by or PersonOrder()
        return FetchedPages(
            lambda request: people.list_people(
                info.context.tenant, request, where, order.field, order.direction is SortDirection.DESC
            ),
            Person.from_row,
        )

    @strawberry.field
    async def person(self, info: Info, id: relay.GlobalID) -> Person | None:
        return await one_node(info.context.loaders.person, id, Person)

    @strawberry.field(description="The seller directory that decides new people's side.")
    async def people_settings(self, info: Info) -> PeopleSettings:
        domains, names = await people.people_settings(info.context.tenant)
        return PeopleSettings(seller_domains=domains, seller_names=names)

    @strawberry.field(description="The tenant's deal-health warnings: on or off, thresholds, defaults.")
    async def health_settings(self, info: Info) -> HealthSettings:
        return HealthSettings.of(await health.health_settings(info.context.tenant))

    @strawberry.field
    async def analysis(self, info: Info, id: relay.GlobalID) -> Analysis | None:
        return await one_node(info.context.loaders.analysis, id, Analysis)

    @relay.connection(
        Connection[PromptTemplate],
        description="Your tenant's agent prompt templates and the built-in ones, by agent (the pairwise judge's: "
        "pairwiseJudgeTemplates).",
    )
    async def prompt_templates(self, info: Info, agent: AgentKind | None = None) -> Pages[PromptTemplate]:
        rows = await prompts.list_templates(info.context.tenant, agent)
        return LoadedList(rows, PromptTemplate.from_row, "prompt-templates")

    @strawberry.field
    async def prompt_template(self, info: Info, id: relay.GlobalID) -> PromptTemplate | None:
        return await one_node(PromptTemplate.node_loader(info), id, PromptTemplate)

    @relay.connection(
        Connection[PromptTemplate],
        description="Admins: the pairwise judge's prompt templates (your override first, then the built-in one); "
        "experiments started with pairwise: true use its production version unless their judge picks another.",
        permission_classes=[IsAdmin],
    )
    async def pairwise_judge_templates(self, info: Info) -> Pages[PromptTemplate]:
        rows = await prompts.judge_templates(info.context.tenant)
        return LoadedList(rows, PromptTemplate.from_row, "prompt-templates")

    @strawberry.field(
        description="Admins: the most running a prompt label's versions on a dataset version (the latest when none "
        "is named) would cost, LIVE and as a Message Batch; nothing is sent but count_tokens requests. With a "
        "baseline it is the estimate startExperiment checks against the budget, of that label as the candidate.",
        permission_classes=[IsAdmin],
    )
    async def experiment_estimate(
        self,
        info: Info,
        dataset_id: relay.GlobalID,
        prompt_label: str,
        dataset_version: int | None = None,
        agents: list[AgentKind] | None = None,
        baseline: Annotated[
            PromptPickInput | None,
            strawberry.argument(
                description="As startExperiment's: then the baseline's requests, where no result of its version is "
                "stored, are counted too."
            ),
        ] = None,
        pairwise: Annotated[
            bool,
            strawberry.argument(
                description="With a baseline: the pairwise judge's requests too, at the LIVE price in both costs, as "
                "startExperiment(pairwise: true) counts them."
            ),
        ] = False,
        judge: Annotated[PromptPickInput | None, strawberry.argument(description=JUDGE)] = None,
    ) -> ExperimentEstimate:
        assert info.context.llm is not None
        dataset, chosen = node_uuid(dataset_id, "Dataset"), agents or list(AgentKind)
        if baseline is None:
            if pairwise or judge is not None:
                raise BadUserInput("baseline: the pairwise judge compares the baseline's answers: give the baseline.")
            found = await estimates.estimate(
                info.context.tenant, info.context.llm, dataset, dataset_version, chosen, prompt_label
            )
        else:
            compared = Compared(
                dataset_id=dataset,
                dataset_version=dataset_version,
                agents=chosen,
                baseline=baseline.pick(),
                candidate=PromptPick(label=prompt_label),
                pairwise=pairwise,
                judge=None if judge is None else judge.pick(),
            )
            found = await answer(experiments.estimate(info.context.tenant, info.context.llm, compared))
        return ExperimentEstimate(**asdict(found))

    @strawberry.field(
        description="Admins: the tenant's prompt experiments, newest first.", permission_classes=[IsAdmin]
    )
    async def experiments(self, info: Info) -> list[Experiment]:
        return [Experiment.from_row(row) for row in await experiments.list_experiments(info.context.tenant)]

    @strawberry.field(description="Admins: one prompt experiment.", permission_classes=[IsAdmin])
    async def experiment(self, info: Info, id: relay.GlobalID) -> Experiment | None:
        return await one_node(info.context.loaders.experiment, id, Experiment)

    @strawberry.field(description="Admins: the tenant's datasets of calls, by name.", permission_classes=[IsAdmin])
    async def datasets(self, info: Info) -> list[Dataset]:
        return [Dataset.from_row(row) for row in await datasets_service.list_datasets(info.context.tenant)]

    @strawberry.field(
        description="Admins: exactly what a run of this version on this transcript would send, with its token count.",
        permission_classes=[IsAdmin],
    )
    async def render_prompt(
        self, info: Info, version_id: relay.GlobalID, transcript_id: relay.GlobalID
    ) -> RenderedPrompt:
        assert info.context.llm is not None
        preview = await prompts.render_preview(
            info.context.tenant,
            info.context.llm,
            node_uuid(version_id, "PromptVersion"),
            node_uuid(transcript_id, "Transcript"),
        )
        _tenant, system, transcript_block = (block["text"] for block in preview.request.system)
        return RenderedPrompt(
            model=preview.request.model,
            system=system,
            transcript_block=transcript_block,
            user=preview.request.messages[0]["content"],
            input_tokens=preview.input_tokens,
            simulated=preview.simulated,
        )
