"""The read benchmark's data set, bulk-loaded with COPY as the owner role (seconds, not minutes).

Rows are what the API itself would store: transcripts are JSON uploads run through the app's own
parser (`parse_transcript`), so format, participants, content hash, language and the utterance rows
match what `addTranscript` writes. Every deal gets a distinct amount, so "by amount" has exactly one
order and two servers can be compared row by row. Each deal's health is stored as the health pool would
store it (`seed_health`): a status, warnings with their evidence and a next step, so the deal board reads rows
of a realistic size without the pool computing thousands of deals first.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg

from dealgraph.db.models import DealStage
from dealgraph.services.health_rules import (
    HEALTH_RANK,
    Assessment,
    HealthStatus,
    HealthWarning,
    NextStep,
    Quote,
    WarningCode,
    WarningSeverity,
)
from dealgraph.transcripts.formats import TranscriptFormat, parse_transcript

SPEAKERS = ("Alice Chen", "Bob Martinez", "Carol Singh")
LINES = (
    "Thanks for joining, today I want to understand your evaluation process.",
    "We have to cut onboarding time by forty percent before the board meeting.",
    "Our CFO approves anything above fifty thousand dollars.",
    "Security review usually takes three weeks, and legal needs the DPA early.",
)
FIRST_CALL = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


@dataclass(frozen=True)
class DatasetSize:
    accounts: int = 200
    deals: int = 2_000
    transcripts: int = 6_000

    def __str__(self) -> str:
        return f"{self.accounts:,} accounts, {self.deals:,} deals, {self.transcripts:,} transcripts"


def deal_amount(index: int, deals: int) -> Decimal:
    """Distinct for every deal (7919 is prime, so i -> i*7919 mod n is a permutation) and unordered by index."""
    return Decimal(1_000 + (index * 7919) % deals * 100) + Decimal("0.50")


def transcript_json(deal: int, call: int) -> str:
    utterances = [
        {
            "speaker": SPEAKERS[i % len(SPEAKERS)],
            "start": i * 15.0,
            "end": i * 15.0 + 12.5,
            "text": f"{line} (deal {deal}, call {call})",
        }
        for i, line in enumerate(LINES)
    ]
    return json.dumps(utterances)


async def seed(connection: asyncpg.Connection, tenant_id: uuid.UUID, size: DatasetSize = DatasetSize()) -> None:
    """Insert the data set into `tenant_id`'s tenant; `connection` must bypass RLS (the owner role)."""
    account_ids = [uuid.uuid4() for _ in range(size.accounts)]
    deal_ids = [uuid.uuid4() for _ in range(size.deals)]
    stages = list(DealStage)
    await connection.copy_records_to_table(
        "accounts",
        columns=["id", "tenant_id", "name", "domain"],
        records=[(aid, tenant_id, f"Account {i:04d}", f"account{i}.example") for i, aid in enumerate(account_ids)],
    )
    await connection.copy_records_to_table(
        "deals",
        columns=["id", "tenant_id", "account_id", "name", "stage", "amount", "currency", "close_date"],
        records=[
            (
                did,
                tenant_id,
                account_ids[i % size.accounts],
                f"Deal {i:05d}",
                stages[i % len(stages)].value,
                deal_amount(i, size.deals),
                "USD",
                date(2027, 1, 1) + timedelta(days=i % 365),
            )
            for i, did in enumerate(deal_ids)
        ],
    )
    transcripts: list[tuple[object, ...]] = []
    utterances: list[tuple[object, ...]] = []
    first_calls: list[uuid.UUID] = []
    for i in range(size.transcripts):
        deal, call = i % size.deals, i // size.deals
        content = transcript_json(deal, call)
        parsed = parse_transcript(content, TranscriptFormat.JSON)
        transcript_id = uuid.uuid4()
        if call == 0:
            first_calls.append(transcript_id)
        transcripts.append(
            (
                transcript_id,
                tenant_id,
                deal_ids[deal],
                f"Call {call + 1} on deal {deal:05d}",
                FIRST_CALL + timedelta(days=call, minutes=deal),
                parsed.format.value,
                content,
                list(parsed.participants),
                parsed.content_hash,
                parsed.language,
                len(parsed.utterances),
            )
        )
        utterances.extend(
            (tenant_id, transcript_id, u.index, u.speaker, u.start, u.end, u.text) for u in parsed.utterances
        )
    await connection.copy_records_to_table(
        "transcripts",
        columns=[
            "id",
            "tenant_id",
            "deal_id",
            "title",
            "occurred_at",
            "source_format",
            "original_text",
            "participants",
            "content_hash",
            "language",
            "utterance_count",
        ],
        records=transcripts,
    )
    await connection.copy_records_to_table(
        "transcript_utterances",
        columns=["tenant_id", "transcript_id", "position", "speaker", "start_seconds", "end_seconds", "text"],
        records=utterances,
    )
    await seed_health(connection, deal_ids, first_calls)
    await connection.execute("ANALYZE accounts, deals, transcripts, transcript_utterances, deal_health")


def board_health(index: int, call_id: uuid.UUID) -> Assessment:
    """Deal `index`'s stored health: every third deal without warnings, the others with one or two."""
    quote = Quote(call_id, "Our CFO approves anything above fifty thousand dollars.", 2, "Carol Singh", 30.0)
    since = FIRST_CALL + timedelta(days=14)
    warnings = [
        HealthWarning(
            WarningCode.NO_ACTIVITY, WarningSeverity.HIGH, "No call for 30 days (the limit is 14).", since, [call_id]
        ),
        HealthWarning(
            WarningCode.NO_POWER,
            WarningSeverity.MEDIUM,
            "The economic buyer is not identified.",
            since,
            [call_id],
            [quote],
        ),
    ][: index % 3]
    status = [HealthStatus.ON_TRACK, HealthStatus.OFF_TRACK, HealthStatus.OFF_TRACK][index % 3]
    step = NextStep("Send the security questionnaire", date(2027, 1, 8), "Alice Chen", call_id, [quote])
    return Assessment(status, warnings, step, None)


async def seed_health(connection: asyncpg.Connection, deal_ids: list[uuid.UUID], first_calls: list[uuid.UUID]) -> None:
    """Each deal's health, as computed; deals without a call keep theirs queued."""
    rows = []
    for index, (deal_id, call_id) in enumerate(zip(deal_ids, first_calls, strict=False)):
        health = board_health(index, call_id)
        rows.append(
            (
                deal_id,
                health.status.value,
                HEALTH_RANK[health.status],
                json.dumps([w.to_json() for w in health.warnings]),
                [w.code.value for w in health.warnings],
                json.dumps(health.next_step.to_json()) if health.next_step else None,
            )
        )
    await connection.executemany(
        "UPDATE deal_health SET status = 'done', health = $2, health_rank = $3, warnings = $4::jsonb,"
        " warning_codes = $5, next_step = $6::jsonb, computed_at = now() WHERE deal_id = $1",
        rows,
    )
