"""People across calls: linking a new call's speakers, corrections (a speaker's person, a side, a merge),
the seller directory, and the per-deal view of who was on its calls (linking itself: `speaker_links`)."""

from __future__ import annotations

import enum
import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from dealgraph.agents.outputs.stakeholders import Stakeholder, StakeholdersOutput
from dealgraph.db.models import Person, SideSource
from dealgraph.db.repositories import people
from dealgraph.db.repositories.conversation import FigureRange
from dealgraph.db.session import TenantScope
from dealgraph.errors import ErrorCode
from dealgraph.services.pagination import Page, PageRequest, keyset_page
from dealgraph.services.speaker_links import (
    Directory,
    KnownPerson,
    KnownUser,
    link_speakers,
)
from dealgraph.transcripts.formats import ParsedTranscript
from dealgraph.transcripts.metrics import ConversationFigure, Side, call_metrics
from dealgraph.transcripts.names import name_key
from dealgraph.validation import InvalidInput, Rules, text

_DOMAIN = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"


class PeopleSettingsFields(TypedDict, total=False):
    seller_domains: Annotated[
        list[Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=253, pattern=_DOMAIN)]],
        Field(max_length=100),
    ]
    seller_names: Annotated[list[Annotated[str, text(200)]], Field(max_length=1000)]


PEOPLE_SETTINGS_RULES = Rules(
    PeopleSettingsFields, {("seller_domains", "string_pattern_mismatch"): "must be a domain like 'acme.example'"}
)


LINK_ATTEMPTS = 3
"""A call links again when a racing call created one of its new people first; a third race in a row is
answered as a conflict rather than looped on."""


async def link_call(
    session: AsyncSession, tenant_id: uuid.UUID, deal_id: uuid.UUID, transcript_id: uuid.UUID, call: ParsedTranscript
) -> None:
    """Link a new call's speakers to people (creating those nobody knows) and store its metrics: two statements,
    two more each time a concurrent call created one of the same people first."""
    emails = call.speaker_emails
    keys = [name_key(s) for s in call.participants]
    for _ in range(LINK_ATTEMPTS):
        row = await people.directory(session, deal_id, keys, list(emails.values()))
        assert row is not None, "the caller holds the deal"
        links = link_speakers(call.participants, emails, _directory(row))
        recorded = await people.record_call(
            session,
            tenant_id,
            transcript_id,
            [{**asdict(p), "side": p.side.value} for p in links.new_people],
            [
                {
                    "speaker": link.speaker,
                    "position": link.position,
                    "email": link.email,
                    "person_id": link.person_id,
                    "linked_by": link.linked_by,
                    "candidate_ids": list(link.candidate_ids),
                }
                for link in links.speakers
            ],
            call_metrics(call.utterances, links.sides).model_dump(mode="json"),
        )
        if recorded:
            return
    raise InvalidInput.at(
        ("input", "content"),
        "its speakers were being added by other calls at the same time; try again",
        ErrorCode.CONFLICT,
    )


def _directory(row: Any) -> Directory:
    account_id, domain, seller_domains, seller_names, known, aliases, users = row
    return Directory(
        account_id=account_id,
        account_domain=domain.lower() if domain else None,
        seller_domains=frozenset(seller_domains),
        seller_name_keys=frozenset(name_key(n) for n in seller_names),
        people=[
            KnownPerson(
                id=uuid.UUID(p["id"]),
                name_key=p["name_key"],
                email=p["email"],
                side=Side(p["side"]),
                account_id=uuid.UUID(p["account_id"]) if p["account_id"] else None,
                user_id=uuid.UUID(p["user_id"]) if p["user_id"] else None,
            )
            for p in _parsed(known)
        ],
        aliases={key: uuid.UUID(str(person)) for key, person in _parsed(aliases).items()},
        users=[KnownUser(uuid.UUID(u["id"]), u["email"], name_key(u["name"])) for u in _parsed(users)],
    )


def _parsed(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _person_not_found(field_path: tuple[str, ...]) -> InvalidInput:
    return InvalidInput.at(field_path, "person not found", ErrorCode.NOT_FOUND)


async def set_speaker_person(
    scope: TenantScope, transcript_id: uuid.UUID | None, speaker: str, person_id: uuid.UUID
) -> None:
    """Link a call's speaker to a person, and remember it for the account's calls (re-added ones included)."""
    async with scope.session() as session:
        found = await people.speaker_of_call(session, transcript_id, speaker) if transcript_id else None
        if found is None:
            raise InvalidInput.at(("input", "speaker"), "no such speaker on this transcript", ErrorCode.NOT_FOUND)
        row, account_id = found
        person = await people.person(session, person_id)
        if person is None:
            raise _person_not_found(("input", "personId"))
        await people.link_speaker(session, row.transcript_id, speaker, person.id)
        key = name_key(speaker)
        await people.save_aliases(
            session, [{"tenant_id": scope.tenant_id, "account_id": account_id, "name_key": key, "person_id": person.id}]
        )
        await people.recompute_metrics(session, [row.transcript_id])


async def set_person_side(scope: TenantScope, person_id: uuid.UUID | None, side: Side) -> Person:
    """A human's choice of side: it is never overridden, and the metrics of the person's calls follow it."""
    async with scope.session() as session:
        person = await people.set_side(session, person_id, side.value, SideSource.HUMAN) if person_id else None
        if person is None:
            raise _person_not_found(("id",))
        await people.recompute_metrics(session, await people.calls_of(session, [person.id]))
        return person


async def merge_people(scope: TenantScope, kept_id: uuid.UUID | None, merged_id: uuid.UUID | None) -> Person:
    """`merged` becomes `kept` on every call; its name keeps meaning `kept` on those accounts' calls."""
    if kept_id is not None and kept_id == merged_id:
        raise InvalidInput.at("mergedId", "cannot merge a person into itself")
    async with scope.session() as session:
        kept = await people.person(session, kept_id) if kept_id else None
        merged = await people.person(session, merged_id) if merged_id else None
        if kept is None:
            raise _person_not_found(("keptId",))
        if merged is None:
            raise _person_not_found(("mergedId",))
        accounts = set(await people.accounts_spoken_on(session, merged.id))
        accounts |= {merged.account_id} if merged.account_id else set()
        calls = await people.calls_of(session, [merged.id])
        await people.merge(session, kept, merged)
        await people.save_aliases(
            session,
            [
                {"tenant_id": scope.tenant_id, "account_id": a, "name_key": merged.name_key, "person_id": kept.id}
                for a in accounts
            ],
        )
        if merged.side != kept.side:
            await people.recompute_metrics(session, calls)
        return kept


async def people_settings(scope: TenantScope) -> tuple[list[str], list[str]]:
    async with scope.session() as session:
        saved = await people.settings(session)
    return (saved.seller_domains, saved.seller_names) if saved else ([], [])


async def save_people_settings(scope: TenantScope, fields: dict[str, Any]) -> tuple[list[str], list[str]]:
    valid = PEOPLE_SETTINGS_RULES.validate(fields, at=("input",))
    async with scope.session() as session:
        saved = await people.save_settings(
            session, scope.tenant_id, valid.get("seller_domains", []), valid.get("seller_names", [])
        )
    return saved.seller_domains, saved.seller_names


class PersonOrderField(enum.Enum):
    NAME = "name"
    # ...and one member per ConversationFigure, the person's roll-up over all their calls (without it, last
    # when descending), added in the class body (the enum HOWTO's `_ignore_` idiom) so that the figures are
    # listed once and mypy still sees an ordinary enum class.
    _ignore_ = ["members", "figure"]
    members = vars()
    for figure in ConversationFigure:
        members[figure.name] = figure.value


@dataclass(frozen=True, slots=True)
class PeopleFilter:
    search: str | None = None
    side: Side | None = None
    account_id: uuid.UUID | None = None
    figure: FigureRange | None = None


async def list_people(
    scope: TenantScope, request: PageRequest, where: PeopleFilter, order: PersonOrderField, descending: bool
) -> Page[Person]:
    query = people.people_listing(
        where.search, where.side.value if where.side else None, where.account_id, where.figure
    )
    return await keyset_page(scope, query, people.sort_by(order.value, descending), request)


# Who was on a deal's calls, and the calls of a person.


@dataclass(frozen=True, slots=True)
class StakeholderView:
    """What the stakeholder agent said of a person on one call."""

    transcript_id: uuid.UUID
    occurred_at: datetime
    stakeholder: Stakeholder


@dataclass(slots=True)
class Appearance:
    """A person across some calls: which, when, how much they spoke, and the agent's view on each call."""

    person: Any
    transcript_ids: list[uuid.UUID] = field(default_factory=list)
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    speaking_seconds: float = 0.0
    call_speaking_seconds: float = 0.0
    stakeholder_views: list[StakeholderView] = field(default_factory=list)
    deal_ids: list[uuid.UUID] = field(default_factory=list)

    @property
    def talk_share(self) -> float | None:
        return self.speaking_seconds / self.call_speaking_seconds if self.call_speaking_seconds > 0 else None


def appearances(rows: Sequence[Any], key: str) -> dict[uuid.UUID, list[Appearance]]:
    """Rows of `people.appearances_*` (one a person and call) grouped by `key` ("deal_id" or "id", the person),
    newest call first."""
    grouped: dict[uuid.UUID, dict[uuid.UUID, Appearance]] = defaultdict(dict)
    for row in rows:
        seen = grouped[getattr(row, key)].setdefault(row.id, Appearance(row))
        seen.transcript_ids.append(row.transcript_id)
        seen.speaking_seconds += row.speaking_seconds or 0.0
        seen.call_speaking_seconds += row.call_speaking_seconds or 0.0
        seen.stakeholder_views.extend(_views(row))
        if row.deal_id not in seen.deal_ids:
            seen.deal_ids.append(row.deal_id)
        seen.last_seen = seen.last_seen or row.occurred_at
        seen.first_seen = row.occurred_at
    return {k: list(v.values()) for k, v in grouped.items()}


def _views(row: Any) -> list[StakeholderView]:
    """The stakeholder entry of the call naming the person or one of their speaker labels there (by name, folded)."""
    if not row.stakeholders:
        return []
    names = {name_key(speaker) for speaker in row.speakers} | {row.name_key}
    output = StakeholdersOutput.model_validate(_parsed(row.stakeholders))
    named = (s for s in output.stakeholders if name_key(s.name) in names)
    return [StakeholderView(row.transcript_id, row.occurred_at, s) for s in named][:1]


async def load_deal_people(scope: TenantScope, deal_ids: Sequence[uuid.UUID]) -> list[list[Appearance]]:
    """DataLoader batch: everyone on each deal's calls, from one statement."""
    async with scope.session() as session:
        rows = await people.appearances_on_deals(session, deal_ids)
    grouped = appearances(rows, "deal_id")
    return [grouped.get(deal_id, []) for deal_id in deal_ids]


async def load_person_appearances(scope: TenantScope, person_ids: Sequence[uuid.UUID]) -> list[Appearance | None]:
    """DataLoader batch: each person's calls and deals, from one statement."""
    async with scope.session() as session:
        rows = await people.appearances_of_people(session, person_ids)
    grouped = appearances(rows, "id")
    return [next(iter(grouped.get(person_id, [])), None) for person_id in person_ids]
