"""Root mutation: create/update/delete of the deal graph; validation problems come back as `errors`."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from typing import Annotated

import strawberry
from strawberry import relay

from dealgraph.schema.accounts import Account, AccountPayload, CreateAccountInput, UpdateAccountInput
from dealgraph.schema.analyses import AgentRun, AgentRunPayload, Analysis, AnalysisPayload
from dealgraph.schema.common import UNKNOWN_ID, DeletePayload, global_id, input_ids, mutate, provided
from dealgraph.schema.context import Context
from dealgraph.schema.corrections import CorrectResultInput, ResultCorrection, ResultCorrectionPayload
from dealgraph.schema.datasets import (
    AddToDatasetInput,
    CreateDatasetInput,
    Dataset,
    DatasetPayload,
    DatasetVersion,
    DatasetVersionPayload,
)
from dealgraph.schema.deals import CreateDealInput, Deal, DealPayload, UpdateDealInput
from dealgraph.schema.enums import AgentKind, Side
from dealgraph.schema.experiments import Experiment, ExperimentPayload, StartExperimentInput
from dealgraph.schema.health import HealthSettings, HealthSettingsInput, HealthSettingsPayload
from dealgraph.schema.people import (
    PeopleSettings,
    PeopleSettingsInput,
    PeopleSettingsPayload,
    Person,
    PersonPayload,
    SetSpeakerPersonInput,
    Speaker,
    SpeakerPayload,
    speakers_of,
)
from dealgraph.schema.permissions import AdminForUnpublishedPrompts, IsAdmin
from dealgraph.schema.prompts import (
    PromptLabel,
    PromptLabelPayload,
    PromptVersion,
    PromptVersionInput,
    PromptVersionPayload,
)
from dealgraph.schema.proposals import Proposal, ProposalPayload, ProposalValueInput
from dealgraph.schema.tenancy import Tenant, TenantLimitsInput, TenantPayload
from dealgraph.schema.transcripts import AddTranscriptInput, Transcript, TranscriptPayload
from dealgraph.services import (
    accounts,
    analyses,
    corrections,
    datasets,
    deals,
    experiments,
    health,
    people,
    prompts,
    proposals,
    tenancy,
    transcripts,
)
from dealgraph.services.ids import node_uuid

Info = strawberry.Info[Context, None]
DEAL_REFERENCES = {"account_id": "Account", "owner_id": "User"}


def _plain(value: object) -> object:
    """An input object as the dict the validation rules read (scalars as they are)."""
    return provided(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value


def _deleted(type_name: str) -> Callable[[uuid.UUID], strawberry.ID]:
    return lambda pk: global_id(type_name, pk)


@strawberry.type
class Mutation:
    @strawberry.mutation
    async def create_account(self, info: Info, input: CreateAccountInput) -> AccountPayload:
        action = accounts.create_account(info.context.tenant, provided(input))
        return await mutate(AccountPayload, "account", action, Account.from_row)

    @strawberry.mutation
    async def update_account(self, info: Info, input: UpdateAccountInput) -> AccountPayload:
        changes = provided(input)
        account_id = node_uuid(changes.pop("id"), "Account")
        action = accounts.update_account(info.context.tenant, account_id, changes)
        return await mutate(AccountPayload, "account", action, Account.from_row)

    @strawberry.mutation(description="Refused (CONFLICT) while the account still has deals.")
    async def delete_account(self, info: Info, id: relay.GlobalID) -> DeletePayload:
        action = accounts.delete_account(info.context.tenant, node_uuid(id, "Account"))
        return await mutate(DeletePayload, "deleted_id", action, _deleted("Account"))

    @strawberry.mutation
    async def create_deal(self, info: Info, input: CreateDealInput) -> DealPayload:
        action = deals.create_deal(
            info.context.tenant, input_ids(provided(input), DEAL_REFERENCES), info.context.viewer.user_id
        )
        return await mutate(DealPayload, "deal", action, Deal.from_row)

    @strawberry.mutation
    async def update_deal(self, info: Info, input: UpdateDealInput) -> DealPayload:
        changes = input_ids(provided(input), DEAL_REFERENCES)
        deal_id = node_uuid(changes.pop("id"), "Deal")
        action = deals.update_deal(info.context.tenant, deal_id, changes, info.context.viewer.user_id)
        return await mutate(DealPayload, "deal", action, Deal.from_row)

    @strawberry.mutation(description="Also deletes the deal's transcripts.")
    async def delete_deal(self, info: Info, id: relay.GlobalID) -> DeletePayload:
        action = deals.delete_deal(info.context.tenant, node_uuid(id, "Deal"))
        return await mutate(DeletePayload, "deleted_id", action, _deleted("Deal"))

    @strawberry.mutation(description="Parses and stores a transcript; the same content twice on a deal is a CONFLICT.")
    async def add_transcript(self, info: Info, input: AddTranscriptInput) -> TranscriptPayload:
        fields = input_ids(provided(input), {"deal_id": "Deal"})
        action = transcripts.add_transcript(info.context.tenant, fields, info.context.settings.max_transcript_bytes)
        return await mutate(TranscriptPayload, "transcript", action, Transcript.from_row)

    @strawberry.mutation
    async def delete_transcript(self, info: Info, id: relay.GlobalID) -> DeletePayload:
        action = transcripts.delete_transcript(info.context.tenant, node_uuid(id, "Transcript"))
        return await mutate(DeletePayload, "deleted_id", action, _deleted("Transcript"))

    @strawberry.mutation(
        description="Link a call's speaker to a person; the account's calls (re-added ones too) link that name the "
        "same way from now on, and the call's metrics follow the person's side."
    )
    async def set_speaker_person(self, info: Info, input: SetSpeakerPersonInput) -> SpeakerPayload:
        transcript_id = node_uuid(input.transcript_id, "Transcript")
        person_id = node_uuid(input.person_id, "Person") or UNKNOWN_ID

        async def linked() -> Speaker:
            await people.set_speaker_person(info.context.tenant, transcript_id, input.speaker, person_id)
            assert transcript_id is not None
            transcript = await info.context.loaders.transcript.load(transcript_id)
            return next(s for s in await speakers_of(info, transcript) if s.name == input.speaker)

        return await mutate(SpeakerPayload, "speaker", linked(), lambda speaker: speaker)

    @strawberry.mutation(description="A human's choice of side: never overridden; the metrics of their calls follow.")
    async def set_person_side(self, info: Info, id: relay.GlobalID, side: Side) -> PersonPayload:
        action = people.set_person_side(info.context.tenant, node_uuid(id, "Person"), side)
        return await mutate(PersonPayload, "person", action, Person.from_row)

    @strawberry.mutation(
        description="`merged` becomes `kept` on every call and is deleted; its name keeps linking to `kept`."
    )
    async def merge_people(self, info: Info, kept_id: relay.GlobalID, merged_id: relay.GlobalID) -> PersonPayload:
        action = people.merge_people(
            info.context.tenant,
            node_uuid(kept_id, "Person") or UNKNOWN_ID,
            node_uuid(merged_id, "Person") or UNKNOWN_ID,
        )
        return await mutate(PersonPayload, "person", action, Person.from_row)

    @strawberry.mutation(
        description="Admins: turn health warnings on or off and set their thresholds (warnings left out keep theirs); "
        "every deal's health is then recomputed in the background.",
        permission_classes=[IsAdmin],
    )
    async def update_health_settings(self, info: Info, input: HealthSettingsInput) -> HealthSettingsPayload:
        changes = [
            health.SettingChange(
                code=entry.code,
                enabled=entry.enabled if entry.enabled is not strawberry.UNSET else None,
                threshold=entry.threshold if entry.threshold is not strawberry.UNSET else None,
                threshold_given=entry.threshold is not strawberry.UNSET,
            )
            for entry in input.warnings
        ]
        action = health.save_health_settings(info.context.tenant, changes)
        return await mutate(HealthSettingsPayload, "settings", action, HealthSettings.of)

    @strawberry.mutation(
        description="Admins: the seller directory (decides the side of people created from now on).",
        permission_classes=[IsAdmin],
    )
    async def set_people_settings(self, info: Info, input: PeopleSettingsInput) -> PeopleSettingsPayload:
        action = people.save_people_settings(info.context.tenant, provided(input))
        return await mutate(
            PeopleSettingsPayload,
            "settings",
            action,
            lambda saved: PeopleSettings(seller_domains=saved[0], seller_names=saved[1]),
        )

    @strawberry.mutation(
        description="Admins: your tenant's limits (the cap on its queued agent runs, the budget of one prompt "
        "experiment).",
        permission_classes=[IsAdmin],
    )
    async def update_tenant_limits(self, info: Info, input: TenantLimitsInput) -> TenantPayload:
        action = tenancy.update_tenant_limits(info.context.tenant, provided(input))
        return await mutate(TenantPayload, "tenant", action, Tenant.from_row)

    @strawberry.mutation(
        description="Queue an analysis and return it at once (status QUEUED); subscribe to analysisEvents for results. "
        "The same idempotencyKey returns the same analysis instead of starting another.",
        permission_classes=[AdminForUnpublishedPrompts],
    )
    async def start_analysis(
        self,
        info: Info,
        transcript_id: relay.GlobalID,
        agents: list[AgentKind] | None = None,
        idempotency_key: str | None = None,
        prompt_label: Annotated[
            str,
            strawberry.argument(
                description="Which prompt label to run; labels other than 'production' (e.g. 'staging') are for admins."
            ),
        ] = "production",
        force: Annotated[
            bool,
            strawberry.argument(
                description="Run again even if an identical result (same content and prompt version) exists."
            ),
        ] = False,
    ) -> AnalysisPayload:
        request = analyses.AnalysisRequest(
            transcript_id=node_uuid(transcript_id, "Transcript"),
            agents=agents,
            idempotency_key=idempotency_key,
            prompt_label=prompt_label,
            force=force,
        )
        action = analyses.start_analysis(
            info.context.tenant,
            info.context.viewer.user_id,
            request,
            max_queued_runs=info.context.settings.max_queued_runs,
        )
        return await mutate(AnalysisPayload, "analysis", action, Analysis.from_row)

    @strawberry.mutation(
        description="Correct an agent's result on a call: the expected answer experiments score prompt versions "
        "against. The target must be in the call's latest result of that agent; correcting it again replaces the value."
    )
    async def correct_result(self, info: Info, input: CorrectResultInput) -> ResultCorrectionPayload:
        request = corrections.CorrectionRequest(
            transcript_id=node_uuid(input.transcript_id, "Transcript") or UNKNOWN_ID,
            field=input.field,
            target=input.target,
            value=input.value,
        )
        action = corrections.correct_result(info.context.tenant, info.context.viewer.user_id, request)
        return await mutate(ResultCorrectionPayload, "correction", action, ResultCorrection.of)

    @strawberry.mutation(
        description="Admins: a dataset of calls (version 1), picked by ids or by a filter.",
        permission_classes=[IsAdmin],
    )
    async def create_dataset(self, info: Info, input: CreateDatasetInput) -> DatasetPayload:
        viewer = info.context.viewer
        action = datasets.create_dataset(info.context.tenant, viewer.user_id, input.name, input.selection.selection())
        return await mutate(DatasetPayload, "dataset", action, Dataset.from_row)

    @strawberry.mutation(
        description="Admins: add calls to a dataset as its next version (the earlier versions stay as they were).",
        permission_classes=[IsAdmin],
    )
    async def add_to_dataset(self, info: Info, input: AddToDatasetInput) -> DatasetVersionPayload:
        dataset_id = node_uuid(input.dataset_id, "Dataset") or UNKNOWN_ID
        selection = input.selection.selection()
        action = datasets.add_to_dataset(info.context.tenant, info.context.viewer.user_id, dataset_id, selection)
        return await mutate(DatasetVersionPayload, "version", action, DatasetVersion.of)

    @strawberry.mutation(
        description="Admins: run a candidate prompt on a dataset version beside a baseline (estimated first, refused "
        "over the budget); the baseline runs only where no analysis stored a result of its version.",
        permission_classes=[IsAdmin],
    )
    async def start_experiment(self, info: Info, input: StartExperimentInput) -> ExperimentPayload:
        assert info.context.llm is not None
        action = experiments.start(info.context.tenant, info.context.llm, info.context.viewer.user_id, input.request())
        return await mutate(ExperimentPayload, "experiment", action, Experiment.from_row)

    @strawberry.mutation(
        description="Admins: stop an experiment; unsent requests end canceled, a Message Batch is canceled at the API "
        "(answered requests keep their results).",
        permission_classes=[IsAdmin],
    )
    async def cancel_experiment(self, info: Info, id: relay.GlobalID) -> ExperimentPayload:
        assert info.context.llm is not None
        action = experiments.cancel(info.context.tenant, info.context.llm, node_uuid(id, "Experiment"))
        return await mutate(ExperimentPayload, "experiment", action, Experiment.from_row)

    @strawberry.mutation(
        description="Admins: point `production` at the candidate's versions, the experiment recorded in the label's "
        "audit; refused if the candidate regressed on schema failures, unless forced.",
        permission_classes=[IsAdmin],
    )
    async def promote_experiment(self, info: Info, id: relay.GlobalID, force: bool = False) -> ExperimentPayload:
        viewer = info.context.viewer
        action = experiments.promote(info.context.tenant, viewer.user_id, node_uuid(id, "Experiment"), force)
        return await mutate(ExperimentPayload, "experiment", action, Experiment.from_row)

    @strawberry.mutation(description="Stop running agents and cancel queued ones; finished results are kept.")
    async def cancel_analysis(self, info: Info, id: relay.GlobalID) -> AnalysisPayload:
        action = analyses.cancel_analysis(info.context.tenant, node_uuid(id, "Analysis"))
        return await mutate(AnalysisPayload, "analysis", action, Analysis.from_row)

    @strawberry.mutation(description="Queue a failed or cancelled agent of an analysis again.")
    async def rerun_agent(self, info: Info, analysis_id: relay.GlobalID, agent: AgentKind) -> AgentRunPayload:
        action = analyses.rerun_agent(info.context.tenant, node_uuid(analysis_id, "Analysis"), agent)
        return await mutate(AgentRunPayload, "agent_run", action, AgentRun.from_row)

    @strawberry.mutation(
        description="Apply a SUGGESTED proposal to its deal (ACCEPTED), or `value` instead (EDITED): give only the "
        "member for the proposal's field. A CONFLICT if the deal's field changed since the proposal was made. A "
        "follow-up email is only marked as taken: dealgraph never sends it."
    )
    async def accept_proposal(
        self, info: Info, id: relay.GlobalID, value: ProposalValueInput | None = None
    ) -> ProposalPayload:
        own = None if value is None else {name: _plain(given) for name, given in provided(value).items()}
        action = proposals.accept(info.context.tenant, info.context.viewer.user_id, node_uuid(id, "Proposal"), own)
        return await mutate(ProposalPayload, "proposal", action, Proposal.from_row)

    @strawberry.mutation(description="Reject a SUGGESTED proposal; the deal is left as it is.")
    async def reject_proposal(self, info: Info, id: relay.GlobalID, reason: str | None = None) -> ProposalPayload:
        action = proposals.reject(info.context.tenant, info.context.viewer.user_id, node_uuid(id, "Proposal"), reason)
        return await mutate(ProposalPayload, "proposal", action, Proposal.from_row)

    @strawberry.mutation(
        description="Admins: save a new, immutable prompt version after validating it.", permission_classes=[IsAdmin]
    )
    async def create_prompt_version(self, info: Info, input: PromptVersionInput) -> PromptVersionPayload:
        request = prompts.NewVersion(
            template_id=node_uuid(input.template_id, "PromptTemplate") if input.template_id else None,
            agent=input.agent,
            pairwise_judge=input.pairwise_judge,
            system_text=input.system_text,
            user_template=input.user_template,
            model=input.model,
            max_tokens=input.max_tokens,
            effort=input.effort.value if input.effort else None,
            temperature=input.temperature,
            note=input.note,
            labels=input.labels,
        )
        action = prompts.create_version(
            info.context.tenant, info.context.viewer.user_id, request, info.context.settings
        )
        return await mutate(PromptVersionPayload, "prompt_version", action, PromptVersion.from_row)

    @strawberry.mutation(
        description="Admins: point a label at a version (publishing with 'production').", permission_classes=[IsAdmin]
    )
    async def set_prompt_label(
        self, info: Info, template_id: relay.GlobalID, label: str, version_id: relay.GlobalID
    ) -> PromptLabelPayload:
        action = prompts.set_label(
            info.context.tenant,
            info.context.viewer.user_id,
            node_uuid(template_id, "PromptTemplate"),
            label,
            node_uuid(version_id, "PromptVersion"),
        )
        return await mutate(PromptLabelPayload, "label", action, PromptLabel.from_row)

    @strawberry.mutation(
        description="Admins: move a label back to the version it pointed at before.", permission_classes=[IsAdmin]
    )
    async def rollback_prompt(self, info: Info, template_id: relay.GlobalID, label: str) -> PromptLabelPayload:
        action = prompts.rollback(
            info.context.tenant, info.context.viewer.user_id, node_uuid(template_id, "PromptTemplate"), label
        )
        return await mutate(PromptLabelPayload, "label", action, PromptLabel.from_row)
