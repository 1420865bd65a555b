"""Corrections of agent results: read beside a call's results, made by any member of the tenant."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry import relay

from dealgraph.schema.common import UserError, global_id
from dealgraph.schema.context import Context
from dealgraph.schema.enums import AgentKind
from dealgraph.schema.tenancy import User
from dealgraph.services.corrections import CorrectedField

Info = strawberry.Info[Context, None]

strawberry.enum(
    CorrectedField,
    description="What of an agent's result a person can correct: a MEDDPICC element's status, an action item's "
    "owner or due date, a stakeholder's committee role.",
)


@strawberry.type(
    description="A person's correction of an agent's result on a call: the expected answer, kept across re-analysis."
)
class ResultCorrection:
    id: strawberry.ID
    agent: AgentKind
    field: CorrectedField
    target: str = strawberry.field(
        description="The MEDDPICC element (e.g. economic_buyer), the action item's description or the stakeholder's name."
    )
    value: str | None = strawberry.field(description="The expected value; null: no owner, or no due date.")
    corrected_at: datetime
    row: strawberry.Private[Any]

    @classmethod
    def of(cls, row: Any) -> ResultCorrection:
        return cls(
            id=global_id("ResultCorrection", row.id),
            agent=AgentKind(row.agent),
            field=CorrectedField(row.field),
            target=row.target,
            value=row.value,
            corrected_at=row.corrected_at,
            row=row,
        )

    @strawberry.field
    async def corrected_by(self, info: Info) -> User | None:
        user_id = self.row.corrected_by_id
        user = await info.context.loaders.user.load(user_id) if user_id else None
        return User.from_row(user) if user else None


@strawberry.input
class CorrectResultInput:
    transcript_id: relay.GlobalID
    field: CorrectedField
    target: str
    value: str | None


@strawberry.type
class ResultCorrectionPayload:
    correction: ResultCorrection | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
