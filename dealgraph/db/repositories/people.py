"""People, speaker links, call metrics and the seller directory: reads for linking, writes, corrections, batches."""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Row, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from dealgraph.db.keyset import ListQuery, Sort
from dealgraph.db.models import (
    CallMetrics,
    Deal,
    PeopleSettings,
    Person,
    PersonAlias,
    SideSource,
    Transcript,
    TranscriptSpeaker,
    TranscriptUtterance,
)
from dealgraph.db.repositories import conversation
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.metrics import ConversationFigure, Side, call_metrics

_DIRECTORY = text("""
    SELECT d.account_id, a.domain,
           coalesce(s.seller_domains, '{}'), coalesce(s.seller_names, '{}'),
           coalesce((SELECT json_agg(json_build_object(
                        'id', p.id, 'name_key', p.name_key, 'email', p.email, 'side', p.side,
                        'account_id', p.account_id, 'user_id', p.user_id))
                     FROM people p
                     WHERE p.email = ANY(CAST(:emails AS varchar[])) OR p.user_id IS NOT NULL
                        OR p.id IN (SELECT x.person_id FROM person_aliases x
                                    WHERE x.account_id = d.account_id AND x.name_key = ANY(CAST(:keys AS varchar[])))
                        OR (p.name_key = ANY(CAST(:keys AS varchar[]))
                            AND (p.account_id = d.account_id OR p.side = 'seller'))), '[]'),
           coalesce((SELECT json_object_agg(x.name_key, x.person_id) FROM person_aliases x
                     WHERE x.account_id = d.account_id AND x.name_key = ANY(CAST(:keys AS varchar[]))), '{}'),
           coalesce((SELECT json_agg(json_build_object('id', u.id, 'email', lower(u.email), 'name', u.display_name))
                     FROM users u), '[]')
    FROM deals d JOIN accounts a ON a.id = d.account_id LEFT JOIN people_settings s ON true
    WHERE d.id = :deal
    """)


async def directory(
    session: AsyncSession, deal_id: uuid.UUID, name_keys: Sequence[str], emails: Sequence[str]
) -> Row[Any] | None:
    """In one statement, what linking a call of the deal needs: (account id, account domain, seller domains,
    seller names, people as JSON, aliases as JSON {name key: person id}, users as JSON); None without the deal."""
    result = await session.execute(_DIRECTORY, {"deal": deal_id, "keys": list(name_keys), "emails": list(emails)})
    return result.first()


_RECORD_CALL = text("""
    WITH new_people AS (
        INSERT INTO people (id, tenant_id, name, name_key, email, side, side_source, account_id, user_id)
        SELECT id, tenant_id, name, name_key, email, side, side_source, account_id, user_id
        FROM json_populate_recordset(NULL::people, CAST(:people AS json))
        ON CONFLICT DO NOTHING
        RETURNING id
    ), all_new AS (
        SELECT count(*) = :new_count AS created FROM new_people
    ), speakers AS (
        INSERT INTO transcript_speakers
            (tenant_id, transcript_id, speaker, position, email, person_id, linked_by, candidate_ids)
        SELECT tenant_id, transcript_id, speaker, position, email, person_id, linked_by, candidate_ids
        FROM json_populate_recordset(NULL::transcript_speakers, CAST(:speakers AS json))
        WHERE (SELECT created FROM all_new)
    )
    INSERT INTO call_metrics (tenant_id, transcript_id, metrics)
    SELECT :tenant, :transcript, CAST(:metrics AS jsonb) WHERE (SELECT created FROM all_new)
    RETURNING transcript_id
    """)


def _json(value: Any) -> str:
    return json.dumps(value, default=str)


async def record_call(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    transcript_id: uuid.UUID,
    new_people: Sequence[Mapping[str, Any]],
    speakers: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Any],
) -> bool:
    """A new call's people, speaker links and metrics, in one statement (column values as mappings).

    False, with only the speakers' people saved that nobody else had, when a concurrent transaction created
    one of `new_people` first (the same email, or the same name without one on the account): the waiting
    insert gives way, and the caller links the call again, now seeing that person. People are inserted in
    one order (by email, then account and name) so that two such transactions wait on each other at most once.
    """
    ordered = sorted(new_people, key=lambda p: (p["email"] or "", str(p["account_id"] or ""), p["name_key"]))
    recorded = await session.execute(
        _RECORD_CALL,
        {
            "people": _json([{**p, "tenant_id": tenant_id} for p in ordered]),
            "new_count": len(ordered),
            "speakers": _json([{**s, "tenant_id": tenant_id, "transcript_id": transcript_id} for s in speakers]),
            "tenant": tenant_id,
            "transcript": transcript_id,
            "metrics": _json(metrics),
        },
    )
    return recorded.first() is not None


async def settings(session: AsyncSession) -> PeopleSettings | None:
    return await session.scalar(select(PeopleSettings))


async def save_settings(
    session: AsyncSession, tenant_id: uuid.UUID, seller_domains: list[str], seller_names: list[str]
) -> PeopleSettings:
    values = {"seller_domains": seller_domains, "seller_names": seller_names, "updated_at": func.now()}
    saved = await session.scalar(
        insert(PeopleSettings)
        .values(tenant_id=tenant_id, **values)
        .on_conflict_do_update(index_elements=[PeopleSettings.tenant_id], set_=values)
        .returning(PeopleSettings)
    )
    assert saved is not None
    return saved


async def person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def speaker_of_call(
    session: AsyncSession, transcript_id: uuid.UUID, speaker: str
) -> tuple[TranscriptSpeaker, uuid.UUID] | None:
    """(the speaker's row, the account of the call's deal), locked for a correction; None if there is none."""
    query = (
        select(TranscriptSpeaker, Deal.account_id)
        .join(Transcript, Transcript.id == TranscriptSpeaker.transcript_id)
        .join(Deal, Deal.id == Transcript.deal_id)
        .where(TranscriptSpeaker.transcript_id == transcript_id, TranscriptSpeaker.speaker == speaker)
        .with_for_update(of=TranscriptSpeaker)
    )
    found = (await session.execute(query)).first()
    if found is None:
        return None
    row, account_id = found
    return row, account_id


async def link_speaker(session: AsyncSession, transcript_id: uuid.UUID, speaker: str, person_id: uuid.UUID) -> None:
    await session.execute(
        update(TranscriptSpeaker)
        .where(TranscriptSpeaker.transcript_id == transcript_id, TranscriptSpeaker.speaker == speaker)
        .values(person_id=person_id, linked_by="corrected", candidate_ids=[])
    )


async def save_aliases(session: AsyncSession, rows: Sequence[Mapping[str, Any]]) -> None:
    """(tenant_id, account_id, name_key, person_id) rows; a name already tied on an account is re-tied."""
    if rows:
        statement = insert(PersonAlias).values(list(rows))
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[PersonAlias.account_id, PersonAlias.name_key],
                set_={"person_id": statement.excluded.person_id, "created_at": func.now()},
            )
        )


async def set_side(session: AsyncSession, person_id: uuid.UUID, side: str, source: str) -> Person | None:
    return await session.scalar(
        update(Person).where(Person.id == person_id).values(side=side, side_source=source).returning(Person)
    )


async def calls_of(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> list[uuid.UUID]:
    """The transcripts these people spoke on."""
    query = select(TranscriptSpeaker.transcript_id).where(TranscriptSpeaker.person_id.in_(person_ids)).distinct()
    return list((await session.scalars(query)).all())


async def accounts_spoken_on(session: AsyncSession, person_id: uuid.UUID) -> list[uuid.UUID]:
    query = (
        select(Deal.account_id)
        .join(Transcript, Transcript.deal_id == Deal.id)
        .join(TranscriptSpeaker, TranscriptSpeaker.transcript_id == Transcript.id)
        .where(TranscriptSpeaker.person_id == person_id)
        .distinct()
    )
    return list((await session.scalars(query)).all())


async def merge(session: AsyncSession, kept: Person, merged: Person) -> None:
    """`merged`'s speakers and aliases become `kept`'s, details `kept` lacks are taken from it, and it is deleted."""
    await session.execute(
        update(TranscriptSpeaker).where(TranscriptSpeaker.person_id == merged.id).values(person_id=kept.id)
    )
    await session.execute(update(PersonAlias).where(PersonAlias.person_id == merged.id).values(person_id=kept.id))
    await session.execute(delete(Person).where(Person.id == merged.id))
    for column in ("email", "title", "account_id", "user_id"):
        if getattr(kept, column) is None:
            setattr(kept, column, getattr(merged, column))
    await session.flush()


async def recompute_metrics(session: AsyncSession, transcript_ids: Sequence[uuid.UUID]) -> None:
    """These calls' metrics again, with their speakers' current sides: metrics are derived from the utterances
    and the sides, and kept in step here whenever a side changes (a correction, a merge, an inferred side)."""
    u = TranscriptUtterance
    utterances: dict[uuid.UUID, list[Utterance]] = defaultdict(list)
    query = (
        select(u.transcript_id, u.position, u.speaker, u.start_seconds, u.end_seconds, u.text)
        .where(u.transcript_id.in_(transcript_ids))
        .order_by(u.transcript_id, u.position)
    )
    for row in (await session.execute(query)).all():
        utterances[row.transcript_id].append(
            Utterance(row.position, row.speaker, row.start_seconds, row.end_seconds, row.text)
        )
    sides: dict[uuid.UUID, dict[str, Side]] = defaultdict(dict)
    side_query = (
        select(TranscriptSpeaker.transcript_id, TranscriptSpeaker.speaker, Person.side)
        .join(Person, Person.id == TranscriptSpeaker.person_id)
        .where(TranscriptSpeaker.transcript_id.in_(transcript_ids))
    )
    for transcript_id, speaker, side in (await session.execute(side_query)).all():
        sides[transcript_id][speaker] = Side(side)
    for transcript_id, spoken in utterances.items():
        metrics = call_metrics(spoken, sides[transcript_id]).model_dump(mode="json")
        await session.execute(
            update(CallMetrics)
            .where(CallMetrics.transcript_id == transcript_id)
            .values(metrics=metrics, updated_at=func.now())
        )


async def speakers_with_people(
    session: AsyncSession, transcript_id: uuid.UUID
) -> Sequence[Row[str, uuid.UUID, str, str | None]]:
    """The call's linked speakers: (speaker, person id, the person's name key, side source)."""
    query = (
        select(TranscriptSpeaker.speaker, Person.id, Person.name_key, Person.side_source)
        .join(Person, Person.id == TranscriptSpeaker.person_id)
        .where(TranscriptSpeaker.transcript_id == transcript_id)
    )
    return (await session.execute(query)).all()


async def infer_sides(session: AsyncSession, sides: Mapping[uuid.UUID, Side]) -> list[uuid.UUID]:
    """Record the stakeholder agent's sides (person -> side) where neither a human nor the seller directory
    decided one; the people whose side this changed."""
    changed: list[uuid.UUID] = []
    for side in set(sides.values()):
        changed += await session.scalars(
            update(Person)
            .where(
                Person.id.in_([p for p, s in sides.items() if s is side]),
                or_(Person.side_source.is_(None), Person.side_source == SideSource.INFERRED),
                or_(Person.side != side, Person.side_source.is_(None)),
            )
            .values(side=side.value, side_source=SideSource.INFERRED.value, updated_at=func.now())
            .returning(Person.id)
        )
    return changed


# Batched reads for the DataLoaders (dealgraph.services.loaders).


async def speakers_by_transcript(session: AsyncSession, transcript_ids: Sequence[uuid.UUID]) -> list[list[Any]]:
    query = (
        select(TranscriptSpeaker)
        .where(TranscriptSpeaker.transcript_id.in_(transcript_ids))
        .order_by(TranscriptSpeaker.position)
    )
    grouped: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in (await session.scalars(query)).all():
        grouped[row.transcript_id].append(row)
    return [grouped[t] for t in transcript_ids]


_STAKEHOLDERS_OF_CALL = text("""
    SELECT r.result FROM agent_runs r JOIN analyses an ON an.id = r.analysis_id
    WHERE an.transcript_id = t.id AND r.agent = 'stakeholders' AND r.status = 'succeeded'
    ORDER BY r.finished_at DESC LIMIT 1
    """)


async def appearances_on_deals(session: AsyncSession, deal_ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    """Every person on the deals' calls, one row a person and call (newest call first), in one statement: (deal
    id, transcript id, occurred at, their speaker labels there, the person's columns under their own names, their
    speaking seconds there over all those labels, the call's speaking seconds, the call's latest stakeholder
    result or None)."""
    return await _appearances(session, "t.deal_id = ANY(CAST(:ids AS uuid[]))", deal_ids)


async def appearances_of_people(session: AsyncSession, person_ids: Sequence[uuid.UUID]) -> Sequence[Row[Any]]:
    """As `appearances_on_deals`, of these people on any deal."""
    return await _appearances(session, "s.person_id = ANY(CAST(:ids AS uuid[]))", person_ids)


async def _appearances(session: AsyncSession, where: str, ids: Iterable[uuid.UUID]) -> Sequence[Row[Any]]:
    statement = text(f"""
        SELECT t.deal_id, t.id AS transcript_id, t.occurred_at, array_agg(s.speaker ORDER BY s.position) AS speakers,
               p.id, p.name, p.name_key, p.email, p.title, p.side, p.side_source, p.account_id, p.user_id,
               p.created_at, p.updated_at, p.tenant_id,
               sum(CAST(m.metrics -> 'speakers' -> s.speaker ->> 'speaking_seconds' AS float)) AS speaking_seconds,
               (SELECT sum(CAST(v ->> 'speaking_seconds' AS float)) FROM jsonb_each(m.metrics -> 'sides') e(k, v))
                   AS call_speaking_seconds,
               ({_STAKEHOLDERS_OF_CALL.text}) AS stakeholders
        FROM transcript_speakers s
        JOIN transcripts t ON t.id = s.transcript_id
        JOIN people p ON p.id = s.person_id
        LEFT JOIN call_metrics m ON m.transcript_id = t.id
        WHERE {where}
        GROUP BY t.id, p.id, m.transcript_id
        ORDER BY t.occurred_at DESC, t.id, min(s.position)
        """)  # noqa: S608 - `where` is one of this module's two constants
    return (await session.execute(statement, {"ids": list(ids)})).all()


def sort_by(field: str, descending: bool) -> Sort:
    """By name, or by a conversation figure (a `ConversationFigure` value) over all the person's calls."""
    if field == "name":
        key: Any = Person.name
    else:
        key = conversation.sort_key(conversation.person_figure(ConversationFigure(field)))
    return Sort(key=key, id=Person.id, descending=descending, name=f"person-{field}")


def people_listing(
    search: str | None, side: str | None, account_id: uuid.UUID | None, figure: conversation.FigureRange | None
) -> ListQuery:
    query = select(Person)
    if search and search.strip():
        query = query.where(Person.name.icontains(search.strip(), autoescape=True))
    if side:
        query = query.where(Person.side == side)
    if account_id:
        query = query.where(Person.account_id == account_id)
    if figure:
        query = query.where(*figure.conditions(conversation.person_figure(figure.figure)))
    return query
