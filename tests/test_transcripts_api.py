"""Transcript ingest through the API: each format, malformed input, limits, duplicates, deletion."""

from __future__ import annotations

import json

import pytest

from tests.factories import add_transcript, create_deal_with_account, create_transcript
from tests.graphql_documents import DELETE_TRANSCRIPT, SALES_CALL
from tests.support import GraphQLClient, TenantFactory

VTT = """WEBVTT

1
00:00:01.000 --> 00:00:04.500
<v Alice Chen>Thanks for joining today.</v>

2
00:00:05.000 --> 00:00:09.250
<v Bob Martinez>We need this live before Q3.</v>
"""
SRT = """1
00:00:01,000 --> 00:00:04,500
Alice Chen: Thanks for joining today.

2
00:00:05,000 --> 00:00:09,250
Bob Martinez: We need this live before Q3.
"""
JSON_TRANSCRIPT = json.dumps(
    [
        {"speaker": "Alice Chen", "start": 1.0, "end": 4.5, "text": "Thanks for joining today."},
        {"speaker": "Bob Martinez", "start": 5.0, "end": 9.25, "text": "We need this live before Q3."},
    ]
)


@pytest.mark.parametrize(("content", "expected_format"), [(VTT, "WEBVTT"), (SRT, "SRT"), (JSON_TRANSCRIPT, "JSON")])
async def test_timed_formats_are_detected_and_parsed(
    gql: GraphQLClient, tenants: TenantFactory, content: str, expected_format: str
) -> None:
    who = await tenants.create()
    payload = await add_transcript(gql, who, (await create_deal_with_account(gql, who))["id"], content=content)
    assert payload["errors"] == []
    transcript = payload["transcript"]
    assert transcript["sourceFormat"] == expected_format
    assert transcript["participants"] == ["Alice Chen", "Bob Martinez"]
    utterances = [edge["node"] for edge in transcript["utterances"]["edges"]]
    assert utterances == [
        {"index": 0, "speaker": "Alice Chen", "start": 1.0, "end": 4.5, "text": "Thanks for joining today."},
        {"index": 1, "speaker": "Bob Martinez", "start": 5.0, "end": 9.25, "text": "We need this live before Q3."},
    ]


async def test_plain_transcript_keeps_original_text(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    payload = await add_transcript(gql, who, (await create_deal_with_account(gql, who))["id"])
    transcript = payload["transcript"]
    assert transcript["sourceFormat"] == "PLAIN" and transcript["language"] == "en"
    assert transcript["utteranceCount"] == 5 and len(transcript["contentHash"]) == 64
    assert transcript["participants"] == ["Alice Chen", "Bob Martinez", "Carol Singh"]
    data = await gql(
        "query($id: ID!) { transcript(id: $id) { originalText deal { name } } }", {"id": transcript["id"]}, as_=who
    )
    assert data["transcript"] == {"originalText": SALES_CALL, "deal": {"name": "Expansion"}}


@pytest.mark.parametrize(
    ("content", "fmt", "fragment"),
    [
        ("this line has no speaker\nAlice: hi", None, "line 1"),
        ("WEBVTT\n\n00:00:05.000 --> 00:00:01.000\n<v A>backwards</v>\n", None, "line 3"),
        ('[{"speaker": "A", "start": "soon", "end": 2, "text": "x"}]', None, "item 1"),
        ("[not json", None, "line 1"),
        (SALES_CALL, "SRT", "line 1"),
    ],
)
async def test_malformed_transcripts_name_the_line(
    gql: GraphQLClient, tenants: TenantFactory, content: str, fmt: str | None, fragment: str
) -> None:
    who = await tenants.create()
    payload = await add_transcript(
        gql, who, (await create_deal_with_account(gql, who))["id"], content=content, format=fmt
    )
    assert payload["transcript"] is None
    [error] = payload["errors"]
    assert error["field"] == "input.content" and error["code"] == "INVALID"
    assert fragment in error["message"], error["message"]


async def test_size_limit(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()  # the test app allows 64 KiB
    huge = "Alice: " + "word " * 20_000
    payload = await add_transcript(gql, who, (await create_deal_with_account(gql, who))["id"], content=huge)
    [error] = payload["errors"]
    assert error["code"] == "TOO_LARGE" and "limit" in error["message"]


async def test_same_content_twice_is_a_conflict_and_delete_works(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    first = await create_transcript(gql, who, deal_id)
    again = await add_transcript(gql, who, deal_id, title="Same call again")
    assert again["errors"][0]["code"] == "CONFLICT"
    deleted = await gql(DELETE_TRANSCRIPT, {"id": first["id"]}, as_=who)
    assert deleted["deleteTranscript"]["deletedId"] == first["id"]
    assert (await add_transcript(gql, who, deal_id))["errors"] == []  # gone, so it can be added again


async def test_deal_lists_its_transcripts_newest_first(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    await create_transcript(gql, who, deal_id, title="Older", occurredAt="2026-10-01T10:00:00Z")
    await create_transcript(gql, who, deal_id, title="Newer", content=VTT, occurredAt="2026-11-01T10:00:00Z")
    query = "query($id: ID!) { deal(id: $id) { transcripts { totalCount edges { node { title } } } } }"
    data = await gql(query, {"id": deal_id}, as_=who)
    assert [e["node"]["title"] for e in data["deal"]["transcripts"]["edges"]] == ["Newer", "Older"]
    top = await gql("query($d: ID) { transcripts(dealId: $d) { edges { node { title } } } }", {"d": deal_id}, as_=who)
    assert [e["node"]["title"] for e in top["transcripts"]["edges"]] == ["Newer", "Older"]


HUGE_HOURS = "9" * 5000  # beyond the 4,300 digits Python's int() converts


@pytest.mark.parametrize(
    ("content", "fmt", "fragment"),
    [
        (f'[{{"speaker": "A", "text": "x", "start": {HUGE_HOURS}, "end": 1}}]', "JSON", "item 1: start must be"),
        (f"Alice: hi\n[{HUGE_HOURS}:00:00] Bob: x", None, "line 2: timestamp"),
        (f"1\n{HUGE_HOURS}:00:00,000 --> 00:00:01,000\nAlice: hi", None, "line 2: timestamp"),
        ('[{"speaker": "A\\u0000", "text": "x", "start": 0, "end": 1}]', "JSON", "item 1: speaker contains a NUL"),
        ('[{"speaker": "A", "text": "x\\ud800", "start": 0, "end": 1}]', None, "item 1: text contains an unpaired"),
    ],
)
async def test_content_the_database_cannot_take_is_a_field_error(
    gql: GraphQLClient, tenants: TenantFactory, content: str, fmt: str | None, fragment: str
) -> None:
    """Huge timestamps and JSON escapes of NUL or a lone surrogate are refused, not failed on, and nothing is saved."""
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    payload = await add_transcript(gql, who, deal_id, content=content, format=fmt)
    assert payload["transcript"] is None
    [error] = payload["errors"]
    assert (error["field"], error["code"]) == ("input.content", "INVALID")
    assert fragment in error["message"], error["message"][:200]
    data = await gql("query($id: ID!) { deal(id: $id) { transcripts { totalCount } } }", {"id": deal_id}, as_=who)
    assert data["deal"]["transcripts"]["totalCount"] == 0
