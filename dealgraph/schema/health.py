"""Deal health: status, warnings with their evidence, the next step; the tenant's warning settings; deal events."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from dealgraph.schema.common import UserError, global_id
from dealgraph.schema.context import Context
from dealgraph.services.health import DealHealthView
from dealgraph.services.health_rules import (
    RULES,
    HealthStatus,
    HealthWarning,
    NextStep,
    Quote,
    WarningCode,
    WarningSetting,
    WarningSeverity,
)

if TYPE_CHECKING:
    from dealgraph.schema.transcripts import Transcript

TranscriptType = Annotated["Transcript", strawberry.lazy("dealgraph.schema.transcripts")]
Info = strawberry.Info[Context, None]

strawberry.enum(
    HealthStatus,
    description="OFF_TRACK: a high-severity warning; AT_RISK: a medium one; ON_TRACK: none of those; "
    "UNKNOWN: no call of the deal is analysed yet.",
)
strawberry.enum(WarningCode, description="What a health warning is about (docs/api.md lists each, with its default).")
strawberry.enum(WarningSeverity)


async def _transcript(info: Info, transcript_id: uuid.UUID) -> TranscriptType | None:
    from dealgraph.schema.transcripts import Transcript

    row = await info.context.loaders.transcript.load(transcript_id)
    return Transcript.from_row(row) if row else None


@strawberry.type(description="A quote from a call, verified against its transcript when the analysis stored it.")
class WarningQuote:
    quote: str
    utterance_index: int | None
    speaker: str | None
    start: float | None = strawberry.field(description="Seconds into the call, when known.")
    verified: bool = strawberry.field(description="Always true: unverified quotes are never evidence.")
    source: strawberry.Private[Quote]

    @classmethod
    def of(cls, quote: Quote) -> WarningQuote:
        return cls(
            quote=quote.quote,
            utterance_index=quote.utterance_index,
            speaker=quote.speaker,
            start=quote.start,
            verified=True,
            source=quote,
        )

    @strawberry.field(description="The call the quote is from.")
    async def transcript(self, info: Info) -> TranscriptType | None:
        return await _transcript(info, self.source.transcript_id)


@strawberry.type(description="What a warning rests on: its calls (for an absence, the calls checked) and quotes.")
class WarningEvidence:
    quotes: list[WarningQuote]
    call_ids: strawberry.Private[list[uuid.UUID]]

    @strawberry.field(description="The calls, in the order the warning names them.")
    async def calls(self, info: Info) -> list[TranscriptType]:
        rows = await info.context.loaders.transcript.load_many(self.call_ids)
        from dealgraph.schema.transcripts import Transcript

        return [Transcript.from_row(row) for row in rows if row is not None]


@strawberry.type
class DealWarning:
    code: WarningCode
    severity: WarningSeverity
    message: str = strawberry.field(description="One sentence a manager can read.")
    since: datetime = strawberry.field(description="When the warning started.")
    evidence: WarningEvidence

    @classmethod
    def of(cls, warning: HealthWarning) -> DealWarning:
        return cls(
            code=warning.code,
            severity=warning.severity,
            message=warning.message,
            since=warning.since,
            evidence=WarningEvidence(quotes=[WarningQuote.of(q) for q in warning.quotes], call_ids=warning.calls),
        )


@strawberry.type(description="The first action item (action-items agent) whose due date has not passed.")
class DealNextStep:
    description: str
    due_date: date
    owner: str | None
    evidence: list[WarningQuote]
    transcript_id: strawberry.Private[uuid.UUID]

    @classmethod
    def of(cls, step: NextStep) -> DealNextStep:
        return cls(
            description=step.description,
            due_date=step.due_date,
            owner=step.owner,
            evidence=[WarningQuote.of(q) for q in step.quotes],
            transcript_id=step.transcript_id,
        )

    @strawberry.field(description="The call it was agreed on.")
    async def transcript(self, info: Info) -> TranscriptType | None:
        return await _transcript(info, self.transcript_id)


@strawberry.type(description="Computed in the background whenever what it depends on changes, then stored.")
class DealHealth:
    status: HealthStatus
    warnings: list[DealWarning]
    next_step: DealNextStep | None
    computed_at: datetime | None = strawberry.field(description="Null until first computed.")
    pending: bool = strawberry.field(description="A recompute is requested or under way.")

    @classmethod
    def of(cls, view: DealHealthView) -> DealHealth:
        return cls(
            status=view.status,
            warnings=[DealWarning.of(w) for w in view.warnings],
            next_step=DealNextStep.of(view.next_step) if view.next_step else None,
            computed_at=view.computed_at,
            pending=view.pending,
        )


@strawberry.type(name="WarningSetting")
class WarningSettingType:
    code: WarningCode
    enabled: bool
    threshold: int | None = strawberry.field(description="Null for warnings without one.")
    default_threshold: int | None
    threshold_range: list[int] | None = strawberry.field(description="Least and most allowed.")
    threshold_meaning: str | None
    severity: WarningSeverity
    description: str


@strawberry.type(description="The tenant's health warnings: each on or off, with its threshold.")
class HealthSettings:
    warnings: list[WarningSettingType]

    @classmethod
    def of(cls, settings: dict[WarningCode, WarningSetting]) -> HealthSettings:
        entries = []
        for code, setting in settings.items():
            rule = RULES[code]
            limits = rule.threshold
            entries.append(
                WarningSettingType(
                    code=code,
                    enabled=setting.enabled,
                    threshold=setting.threshold,
                    default_threshold=limits.default if limits else None,
                    threshold_range=[limits.least, limits.most] if limits else None,
                    threshold_meaning=limits.meaning if limits else None,
                    severity=rule.severity,
                    description=rule.meaning,
                )
            )
        return cls(warnings=entries)


@strawberry.input(description="Fields left out are unchanged.")
class WarningSettingInput:
    code: WarningCode
    enabled: bool | None = strawberry.UNSET
    threshold: int | None = strawberry.UNSET


@strawberry.input
class HealthSettingsInput:
    warnings: list[WarningSettingInput]


@strawberry.type
class HealthSettingsPayload:
    settings: HealthSettings | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)


@strawberry.interface(description="Something happened to a deal.")
class DealEvent:
    deal_id: strawberry.ID


@strawberry.type(description="The deal's health as first read, then each time its status or warnings change.")
class DealHealthChanged(DealEvent):
    health: DealHealth

    @classmethod
    def of(cls, deal_id: uuid.UUID, view: DealHealthView) -> DealHealthChanged:
        return cls(deal_id=global_id("Deal", deal_id), health=DealHealth.of(view))
