"""People across calls, each call's speakers, and conversation metrics (definitions: dealgraph.transcripts.metrics)."""

from __future__ import annotations

import uuid
from dataclasses import fields
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from strawberry import relay
from strawberry.dataloader import DataLoader
from strawberry.experimental.pydantic import type as pydantic_type

from dealgraph.db import models
from dealgraph.db.repositories.conversation import FigureRange
from dealgraph.schema.accounts import Account
from dealgraph.schema.agent_results import Stakeholder
from dealgraph.schema.common import LoadedNode, SortDirection, UserError
from dealgraph.schema.connections import Connection, LoadedList, Pages
from dealgraph.schema.context import Context
from dealgraph.schema.enums import (
    ConversationFigure,
    LinkedBy,
    PersonOrderField,
    Side,
    SideSource,
    Timing,
    TimingRule,
)
from dealgraph.schema.tenancy import User
from dealgraph.services.conversation import Rollup
from dealgraph.services.people import Appearance
from dealgraph.transcripts import metrics

if TYPE_CHECKING:
    from dealgraph.schema.deals import Deal
    from dealgraph.schema.transcripts import Transcript

Info = strawberry.Info[Context, None]
DealType = Annotated["Deal", strawberry.lazy("dealgraph.schema.deals")]
TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]


@pydantic_type(model=metrics.Talk, all_fields=True, description="One speaker's or one side's share of a call.")
class Talk:
    pass


@strawberry.type
class SideTalk:
    side: Side
    talk: Talk


@strawberry.type(description="A call's conversation metrics, computed from its timings when it was added.")
class CallMetrics:
    timing: Timing
    timing_rule: TimingRule
    duration_seconds: float
    talk_ratio: float | None = strawberry.field(description="Seller speaking time ÷ all speaking time.")
    longest_monologue_seconds: float | None
    longest_customer_story_seconds: float | None
    interactivity: float | None = strawberry.field(description="Side switches per minute.")
    patience_mean_seconds: float | None
    patience_median_seconds: float | None
    question_rate: float | None = strawberry.field(description="Seller questions per hour.")
    sides: list[SideTalk]

    @classmethod
    def of(cls, stored: dict[str, Any]) -> CallMetrics:
        m = metrics.CallMetrics.model_validate(stored)
        return cls(
            timing=m.timing,
            timing_rule=m.timing_rule,
            duration_seconds=m.duration_seconds,
            talk_ratio=m.talk_ratio,
            longest_monologue_seconds=m.longest_monologue_seconds,
            longest_customer_story_seconds=m.longest_customer_story_seconds,
            interactivity=m.interactivity,
            patience_mean_seconds=m.patience_mean_seconds,
            patience_median_seconds=m.patience_median_seconds,
            question_rate=m.question_rate,
            sides=[SideTalk(side=side, talk=Talk.from_pydantic(talk)) for side, talk in m.sides.items()],
        )


@strawberry.type(
    description="Conversation metrics over many calls: a deal's (about its seller side) or a person's (about "
    "them). Definitions: docs/api.md, People and conversation metrics."
)
class ConversationMetrics:
    calls: int = strawberry.field(description="The calls with metrics rolled up.")
    timing: Timing | None = strawberry.field(
        description="EXACT if every call's is, else ESTIMATED; null without calls."
    )
    duration_seconds: float
    talk_ratio: float | None = strawberry.field(
        description="Their speaking time ÷ all speaking time, over the calls they spoke on."
    )
    longest_monologue_seconds: float | None = strawberry.field(description="Their longest turn on any of the calls.")
    longest_customer_story_seconds: float | None = strawberry.field(description="The buyer side's longest turn.")
    interactivity: float | None = strawberry.field(description="Side switches per minute, over the calls' minutes.")
    patience_mean_seconds: float | None = strawberry.field(
        description="The mean pause before the seller side answers the buyer, over all the calls' pauses."
    )
    question_rate: float | None = strawberry.field(description="Their questions per hour of the calls they spoke on.")
    words_per_minute: float | None = strawberry.field(description="Their words per minute of their speaking.")
    filler_rate: float | None = strawberry.field(description="Their fillers per minute of their speaking.")

    @classmethod
    def of(cls, rollup: Rollup) -> ConversationMetrics:
        # field by field, not dataclasses.asdict, which deep-copies every value: 6x the CPU, on every deal of a page
        return cls(**{f.name: getattr(rollup, f.name) for f in fields(rollup)})


@strawberry.type
class Person(LoadedNode, relay.Node):
    id: relay.NodeID[str]
    name: str
    email: str | None
    title: str | None
    created_at: datetime
    row: strawberry.Private[models.Person]

    @classmethod
    def node_loader(cls, info: Info) -> DataLoader[uuid.UUID, Any]:
        return info.context.loaders.person

    @strawberry.field(
        description="As a human or the seller directory set it; else as the stakeholder agent last saw it."
    )
    def side(self) -> Side:
        return Side(self.row.side)

    @strawberry.field(description="Who decided the side; null while it is unknown.")
    def side_source(self) -> SideSource | None:
        return SideSource(self.row.side_source) if self.row.side_source else None

    @strawberry.field(description="The account a buyer-side person belongs to.")
    async def account(self, info: Info) -> Account | None:
        row = await info.context.loaders.account.load(self.row.account_id) if self.row.account_id else None
        return Account.from_row(row) if row else None

    @strawberry.field(description="The dealgraph user a seller-side person is, where known.")
    async def user(self, info: Info) -> User | None:
        row = await info.context.loaders.user.load(self.row.user_id) if self.row.user_id else None
        return User.from_row(row) if row else None

    @strawberry.field(
        description="Their conversation metrics over the calls they spoke on from `from` (inclusive) to `to` "
        "(exclusive), by the calls' date; all their calls without them. Compare sellers with people(side: SELLER)."
    )
    async def metrics(
        self,
        info: Info,
        from_: Annotated[datetime | None, strawberry.argument(name="from")] = None,
        to: datetime | None = None,
    ) -> ConversationMetrics:
        return ConversationMetrics.of(await info.context.loaders.person_rollup.load((self.row.id, from_, to)))

    @relay.connection(Connection[TranscriptType], description="The calls they spoke on, most recent first.")
    async def calls(self, info: Info) -> Pages[TranscriptType]:
        from dealgraph.schema.transcripts import Transcript

        seen = await info.context.loaders.person_appearances.load(self.row.id)
        rows = await info.context.loaders.transcript.load_many(seen.transcript_ids if seen else [])
        return LoadedList([r for r in rows if r], Transcript.from_row, "person-calls")

    @relay.connection(Connection[DealType], description="The deals of those calls, most recent call first.")
    async def deals(self, info: Info) -> Pages[DealType]:
        from dealgraph.schema.deals import Deal

        seen = await info.context.loaders.person_appearances.load(self.row.id)
        rows = await info.context.loaders.deal.load_many(seen.deal_ids if seen else [])
        return LoadedList([r for r in rows if r], Deal.from_row, "person-deals")


@strawberry.type(description="What the stakeholder agent said of a person on one call.")
class StakeholderView:
    transcript_id: relay.GlobalID
    occurred_at: datetime
    stakeholder: Stakeholder


@strawberry.type(description="Someone who spoke on a deal's calls.")
class DealPerson:
    person: Person
    side: Side
    side_source: SideSource | None
    calls_attended: int
    first_seen: datetime
    last_seen: datetime
    speaking_seconds: float
    talk_share: float | None = strawberry.field(
        description="Their speaking time ÷ all speaking on the calls they attended."
    )
    stakeholder_views: list[StakeholderView] = strawberry.field(
        description="The stakeholder agent's view on each call (latest analysis of the call), latest call first."
    )

    @classmethod
    def of(cls, seen: Appearance) -> DealPerson:
        assert seen.first_seen is not None and seen.last_seen is not None
        return cls(
            person=Person.from_row(seen.person),
            side=Side(seen.person.side),
            side_source=SideSource(seen.person.side_source) if seen.person.side_source else None,
            calls_attended=len(seen.transcript_ids),
            first_seen=seen.first_seen,
            last_seen=seen.last_seen,
            speaking_seconds=seen.speaking_seconds,
            talk_share=seen.talk_share,
            stakeholder_views=[
                StakeholderView(
                    transcript_id=relay.GlobalID("Transcript", str(v.transcript_id)),
                    occurred_at=v.occurred_at,
                    stakeholder=Stakeholder.from_pydantic(v.stakeholder),
                )
                for v in seen.stakeholder_views
            ],
        )


@strawberry.type(description="A speaker label of one call and the person it is.")
class Speaker:
    name: str
    email: str | None
    linked_by: LinkedBy | None = strawberry.field(description="Null while the speaker is unlinked.")
    talk: Talk | None
    row: strawberry.Private[models.TranscriptSpeaker]

    @strawberry.field
    async def person(self, info: Info) -> Person | None:
        row = await info.context.loaders.person.load(self.row.person_id) if self.row.person_id else None
        return Person.from_row(row) if row else None

    @strawberry.field(
        description="The people an unlinked speaker matched equally well; link one with setSpeakerPerson."
    )
    async def candidates(self, info: Info) -> list[Person]:
        rows = await info.context.loaders.person.load_many(self.row.candidate_ids)
        return [Person.from_row(row) for row in rows if row]


async def speakers_of(info: Info, transcript: models.Transcript) -> list[Speaker]:
    rows = await info.context.loaders.speakers_by_transcript.load(transcript.id)
    stored = (await info.context.loaders.deal_calls.load(transcript.deal_id)).metrics.get(transcript.id)
    talks = metrics.CallMetrics.model_validate(stored).speakers if stored else {}
    return [
        Speaker(
            name=row.speaker,
            email=row.email,
            linked_by=LinkedBy(row.linked_by) if row.linked_by else None,
            talk=Talk.from_pydantic(talks[row.speaker]) if row.speaker in talks else None,
            row=row,
        )
        for row in rows
    ]


@strawberry.type
class PersonPayload:
    person: Person | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type
class SpeakerPayload:
    speaker: Speaker | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.type(description="The seller side beyond the tenant's users: its email domains and the sellers' names.")
class PeopleSettings:
    seller_domains: list[str]
    seller_names: list[str]


@strawberry.type
class PeopleSettingsPayload:
    settings: PeopleSettings | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.input(description="Keeps what has the figure within the bounds given (inclusive).")
class ConversationFigureRange:
    figure: ConversationFigure
    at_least: float | None = None
    at_most: float | None = None

    def criteria(self) -> FigureRange:
        return FigureRange(self.figure, self.at_least, self.at_most)


@strawberry.input
class PersonOrder:
    field: PersonOrderField = PersonOrderField.NAME
    direction: SortDirection = SortDirection.ASC


@strawberry.input
class SetSpeakerPersonInput:
    transcript_id: relay.GlobalID
    speaker: str = strawberry.field(description="The speaker label exactly as on the transcript.")
    person_id: relay.GlobalID


@strawberry.input
class PeopleSettingsInput:
    seller_domains: list[str] = strawberry.field(description="Email domains of the seller side, e.g. 'acme.example'.")
    seller_names: list[str] = strawberry.field(description="Names of sellers as they appear on calls.")
