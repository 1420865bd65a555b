"""Which person each speaker of a new call is: decided in memory from one read of the tenant's directory.

Order of evidence, strongest first: a name a human tied to a person on this account's calls (an alias, from
a correction or a merge); the speaker's email (JSON transcripts); the speaker's name among the account's
people and the tenant's sellers. A name that matches two people is never guessed: the speaker stays unlinked
with both listed. A speaker nobody matches becomes a new person: a seller (with their user) when a user or
the tenant's seller domains and names say so, a buyer of the deal's account when their email is on the
account's domain, else of unknown side on the deal's account.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from dealgraph.db.models import LinkedBy, SideSource
from dealgraph.transcripts.metrics import Side
from dealgraph.transcripts.names import name_key


def email_domain(email: str) -> str:
    return email.rpartition("@")[2]


@dataclass(frozen=True, slots=True)
class KnownPerson:
    id: uuid.UUID
    name_key: str
    email: str | None
    side: Side
    account_id: uuid.UUID | None
    user_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class KnownUser:
    id: uuid.UUID
    email: str
    name_key: str


@dataclass(frozen=True, slots=True)
class Directory:
    """What the tenant knows that a call's speakers could be (`dealgraph.db.repositories.people.directory`)."""

    account_id: uuid.UUID
    account_domain: str | None
    seller_domains: frozenset[str]
    seller_name_keys: frozenset[str]
    people: Sequence[KnownPerson]
    """The people whose email is a speaker's, the account's people and sellers named like a speaker, and
    every person who is a user."""
    aliases: Mapping[str, uuid.UUID]
    """Name key -> person, on this account's calls."""
    users: Sequence[KnownUser]


@dataclass(frozen=True, slots=True)
class NewPerson:
    id: uuid.UUID
    name: str
    name_key: str
    email: str | None
    side: Side
    side_source: SideSource | None
    account_id: uuid.UUID | None
    user_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class SpeakerLink:
    speaker: str
    position: int
    email: str | None
    person_id: uuid.UUID | None
    linked_by: LinkedBy | None
    side: Side
    candidate_ids: tuple[uuid.UUID, ...] = ()


@dataclass(slots=True)
class Links:
    speakers: list[SpeakerLink] = field(default_factory=list)
    new_people: list[NewPerson] = field(default_factory=list)

    @property
    def sides(self) -> dict[str, Side]:
        return {link.speaker: link.side for link in self.speakers}


def link_speakers(speakers: Sequence[str], emails: Mapping[str, str], directory: Directory) -> Links:
    """The link of every speaker (in order of appearance) and the people to create for them."""
    resolver = _Resolver(directory)
    links = Links()
    for position, speaker in enumerate(speakers):
        email = emails.get(speaker)
        link = resolver.known(speaker, email)
        if link is None:
            person = resolver.new_person(speaker, email)
            if person.id not in {p.id for p in links.new_people}:
                links.new_people.append(person)
            link = (person.id, LinkedBy.CREATED, person.side, ())
        person_id, linked_by, side, candidates = link
        links.speakers.append(SpeakerLink(speaker, position, email, person_id, linked_by, side, candidates))
    return links


_Found = tuple[uuid.UUID | None, LinkedBy | None, Side, tuple[uuid.UUID, ...]]


class _Resolver:
    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        self.by_id = {p.id: p for p in directory.people}
        self.by_email = {p.email: p for p in directory.people if p.email}
        self.by_user = {p.user_id: p for p in directory.people if p.user_id}
        self.by_name = _grouped(
            p for p in directory.people if p.account_id == directory.account_id or p.side is Side.SELLER
        )
        self.users_by_email = {u.email: u for u in directory.users}
        self.users_by_name: dict[str, list[KnownUser]] = defaultdict(list)
        for user in directory.users:
            self.users_by_name[user.name_key].append(user)
        self.created: dict[str, NewPerson] = {}  # by email or name key: one new person per name in a call

    def known(self, speaker: str, email: str | None) -> _Found | None:
        key = name_key(speaker)
        if (alias := self.directory.aliases.get(key)) and alias in self.by_id:
            return alias, LinkedBy.ALIAS, self.by_id[alias].side, ()
        if email and (person := self.by_email.get(email)):
            return person.id, LinkedBy.EMAIL, person.side, ()
        if email:
            return None  # an address nobody has is a new person, even if someone shares the name
        named = self.by_name.get(key, [])
        if len(named) == 1:
            return named[0].id, LinkedBy.NAME, named[0].side, ()
        if len(named) > 1:
            return None, None, Side.UNKNOWN, tuple(sorted(p.id for p in named))
        users = self.users_by_name.get(key, [])
        if len(users) == 1 and (person := self.by_user.get(users[0].id)):
            return person.id, LinkedBy.NAME, person.side, ()
        return None

    def new_person(self, speaker: str, email: str | None) -> NewPerson:
        key = name_key(speaker)
        if (made := self.created.get(email or key)) is not None:
            return made
        user = self._user_of(key, email)
        side, source = self._side_of(key, email, user)
        made = self.created[email or key] = NewPerson(
            id=uuid.uuid4(),
            name=speaker,
            name_key=key,
            email=email,
            side=side,
            side_source=source,
            account_id=None if side is Side.SELLER else self.directory.account_id,
            user_id=user.id if user else None,
        )
        return made

    def _user_of(self, key: str, email: str | None) -> KnownUser | None:
        if email:
            return self.users_by_email.get(email)
        users = self.users_by_name.get(key, [])
        return users[0] if len(users) == 1 and users[0].id not in self.by_user else None

    def _side_of(self, key: str, email: str | None, user: KnownUser | None) -> tuple[Side, SideSource | None]:
        domain = email_domain(email) if email else None
        if user or key in self.directory.seller_name_keys or domain in self.directory.seller_domains:
            return Side.SELLER, SideSource.DIRECTORY
        if domain and domain == self.directory.account_domain:
            return Side.BUYER, SideSource.DIRECTORY
        return Side.UNKNOWN, None


def _grouped(people: Iterable[KnownPerson]) -> dict[str, list[KnownPerson]]:
    grouped: dict[str, list[KnownPerson]] = defaultdict(list)
    for person in people:
        grouped[person.name_key].append(person)
    return grouped
