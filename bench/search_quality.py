"""Search quality on the labelled set: recall@5 and MRR for KEYWORD, SEMANTIC and HYBRID side by side,
without a relevance floor (as before it existed) and at each floor asked for (default: the configured
one), with the hits that questions no call answers still get; plus ingest speed (utterances embedded per
second) and, with --scale N, search p50/p99 over N utterances of one tenant. Runs the real app in-process
on an embedded PostgreSQL (it ships pgvector); every floor searches the same seeded database.

  .venv/bin/python -m bench.search_quality [--floor 0.05 --floor 0.1] [--scale 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import text

from bench.support import create_api_key
from dealgraph.config import Settings
from dealgraph.db.repositories.vectors import vector_literal
from dealgraph.search.embedders import get_embedder
from dealgraph.search.embedding_pool import EmbeddingPool
from dealgraph.search.windows import Spoken, windows
from dealgraph.server.app import create_app
from harness.postgres import fresh_database, postgres_server
from harness.search_corpus import CALLS, QUERIES, UNRELATED, relevant

MODES = ("KEYWORD", "SEMANTIC", "HYBRID")
NO_FLOOR = -1.0  # every cosine similarity is at least -1: the search as it was before the floor
SEARCH = """query($q: String!, $mode: SearchMode, $first: Int) {
  searchTranscripts(query: $q, mode: $mode, first: $first) { edges { node { transcript { title } utterance { index } } } } }"""
CREATE_ACCOUNT = "mutation($i: CreateAccountInput!) { createAccount(input: $i) { account { id } } }"
CREATE_DEAL = "mutation($i: CreateDealInput!) { createDeal(input: $i) { deal { id } } }"
ADD = "mutation($i: AddTranscriptInput!) { addTranscript(input: $i) { transcript { id } errors { message } } }"


async def _gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    body = (await http.post("/graphql", json={"query": query, "variables": variables})).json()
    if body.get("errors"):
        raise RuntimeError(body["errors"])
    return body["data"]


async def _seed(http: httpx.AsyncClient) -> None:
    deals: dict[str, str] = {}
    for call in CALLS:
        if call.deal not in deals:
            account = (await _gql(http, CREATE_ACCOUNT, {"i": {"name": call.account}}))["createAccount"]["account"][
                "id"
            ]
            deals[call.deal] = (await _gql(http, CREATE_DEAL, {"i": {"accountId": account, "name": call.deal}}))[
                "createDeal"
            ]["deal"]["id"]
        await _gql(
            http,
            ADD,
            {
                "i": {
                    "dealId": deals[call.deal],
                    "title": call.title,
                    "content": call.transcript(),
                    "occurredAt": call.occurred_at,
                }
            },
        )


async def _ranked(http: httpx.AsyncClient, question: str, mode: str, by_title: dict[str, str]) -> list[tuple[str, int]]:
    data = await _gql(http, SEARCH, {"q": question, "mode": mode, "first": 50})
    return [
        (by_title[e["node"]["transcript"]["title"]], e["node"]["utterance"]["index"])
        for e in data["searchTranscripts"]["edges"]
    ]


async def quality(http: httpx.AsyncClient) -> dict[str, tuple[float, float, float]]:
    """mode -> (recall@5, MRR, hits per unrelated question), each question asked with `first: 50`."""
    by_title = {call.title: call.key for call in CALLS}
    labels = relevant()
    scores: dict[str, tuple[float, float, float]] = {}
    for mode in MODES:
        recall = mrr = 0.0
        for query_id, question in QUERIES.items():
            ranked = await _ranked(http, question, mode, by_title)
            wanted = labels[query_id]
            recall += len(wanted & set(ranked[:5])) / len(wanted)
            mrr += next((1.0 / (i + 1) for i, key in enumerate(ranked) if key in wanted), 0.0)
        noise = sum([len(await _ranked(http, question, mode, by_title)) for question in UNRELATED])
        scores[mode] = (recall / len(QUERIES), mrr / len(QUERIES), noise / len(UNRELATED))
    return scores


def print_quality(by_floor: dict[float, dict[str, tuple[float, float, float]]]) -> None:
    """The table, then which floors keep recall@5 and MRR of every mode at least as high as no floor."""
    print("| relevance floor | mode | recall@5 | MRR | hits per unrelated question |\n|---|---|---|---|---|")
    for floor, scores in by_floor.items():
        label = "none (before)" if floor == NO_FLOOR else f"{floor:g}"
        for mode, (recall, mrr, noise) in scores.items():
            print(f"| {label} | {mode} | {recall:.3f} | {mrr:.3f} | {noise:.1f} |")
    before = by_floor[NO_FLOOR]

    def keeps(floor: float) -> bool:  # compared as printed: a change below the third decimal is no drop
        return all(round(by_floor[floor][mode][i], 3) >= round(before[mode][i], 3) for mode in MODES for i in range(2))

    print(f"\nfloors costing no recall@5 or MRR in any mode: {[f for f in by_floor if f != NO_FLOOR and keeps(f)]}")


async def _scale_up(app: Any, tenant_id: uuid.UUID, utterances: int) -> None:
    """Add synthetic calls (corpus sentences shuffled into new calls) up to `utterances`, embedded in bulk."""
    sentences = [line.split("#", 1)[0].split(": ", 1) for call in CALLS for line in call.lines]
    embedder, rng, per_call = get_embedder("wordllama"), random.Random(7), 100
    database = app.state.database
    async with database.owner_session() as session:
        deal = await session.scalar(text("SELECT id FROM deals WHERE tenant_id = :t LIMIT 1"), {"t": tenant_id})
    for start in range(0, utterances, 5000):
        rows, transcripts = [], []
        for _ in range(5000 // per_call):
            transcript_id = uuid.uuid4()
            picked = [rng.choice(sentences) for _ in range(per_call)]
            transcripts.append({"id": transcript_id, "t": tenant_id, "d": deal, "h": uuid.uuid4().hex})
            spoken = [Spoken(i, s, float(40 * i), t) for i, (s, t) in enumerate(picked)]
            batch = windows(spoken, 1)
            vectors = embedder.embed([w.text for w in batch])
            rows += [
                {
                    "tr": transcript_id,
                    "t": tenant_id,
                    "p": u.position,
                    "s": u.speaker,
                    "st": u.start,
                    "x": u.text,
                    "m": embedder.model_id,
                    "v": vector_literal(v),
                }
                for u, v in zip(spoken, vectors, strict=True)
            ]
        async with database.owner_session() as session:
            await session.execute(
                text(
                    "INSERT INTO transcripts (id, tenant_id, deal_id, title, occurred_at, source_format, original_text, participants, "
                    "content_hash, language, utterance_count) VALUES (:id, :t, :d, 'synthetic', now(), 'plain', '', '{}', :h, 'en', 100)"
                ),
                transcripts,
            )
            await session.execute(
                text(
                    "INSERT INTO transcript_utterances (transcript_id, tenant_id, position, speaker, start_seconds, text) "
                    "VALUES (:tr, :t, :p, :s, :st, :x)"
                ),
                rows,
            )
            await session.execute(
                text(
                    "INSERT INTO transcript_windows (transcript_id, tenant_id, model, position, speaker, start_seconds, embedding) "
                    "VALUES (:tr, :t, :m, :p, :s, :st, CAST(:v AS vector))"
                ),
                rows,
            )
        print(f"  seeded {start + 5000} utterances", flush=True)


async def latency(http: httpx.AsyncClient, rounds: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    questions = list(QUERIES.values())
    for mode in MODES:
        timings = []
        for i in range(rounds):
            started = time.perf_counter()
            await _gql(http, SEARCH, {"q": questions[i % len(questions)], "mode": mode, "first": 10})
            timings.append((time.perf_counter() - started) * 1000)
        cuts = statistics.quantiles(timings, n=100)
        out[mode] = (cuts[49], cuts[98])
    return out


@asynccontextmanager
async def _serving(settings: Settings) -> AsyncIterator[Any]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield app


def _client(app: Any, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bench",
        headers={"Authorization": f"Bearer {key}"},
        timeout=120,
    )


async def main(floors: list[float], scale: int, rounds: int) -> None:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would bury the tables
    with postgres_server("embedded") as (server_url, origin):
        async with fresh_database(server_url) as db:
            settings = Settings(
                database_url=db.url,
                embedding_pool=False,
                analysis_slots=0,
                anthropic_api_key="unused",
                anthropic_base_url="http://127.0.0.1:9",
            )
            async with _serving(settings) as app:
                key = await create_api_key(db.url, "Bench")
                async with _client(app, key) as http:
                    await _seed(http)
                    pool = EmbeddingPool(app.state.database, settings)
                    started = time.perf_counter()
                    while await pool.run_once():
                        pass
                    utterances = sum(len(c.lines) for c in CALLS)
                    print(
                        f"PostgreSQL {db.version} ({origin}); model {pool.embedder.model_id}, "
                        f"window ±{settings.embedding_neighbours}"
                    )
                    print(
                        f"ingest: {utterances / (time.perf_counter() - started):.0f} utterances/s embedded and stored "
                        f"(queue claim, embed, write; {len(CALLS)} calls)"
                    )
                    print(
                        f"\n{len(QUERIES)} paraphrase queries and {len(UNRELATED)} unrelated ones, {utterances} utterances\n"
                    )
                    by_floor = {}
                    for floor in [NO_FLOOR, *(floors or [settings.search_relevance_floor])]:
                        floored = settings.model_copy(update={"search_relevance_floor": floor, "auto_migrate": False})
                        async with _serving(floored) as other, _client(other, key) as floored_http:
                            by_floor[floor] = await quality(floored_http)
                    print_quality(by_floor)
                    if scale:
                        async with app.state.database.owner_session() as session:
                            tenant = await session.scalar(text("SELECT tenant_id FROM deals LIMIT 1"))
                        await _scale_up(app, tenant, scale)
                        async with app.state.database.owner_session() as session:
                            await session.execute(text("ANALYZE"))
                        print(
                            f"\nsearch latency over {scale + utterances} utterances of one tenant ({rounds} queries per mode, first: 10)\n"
                        )
                        print("| mode | p50 ms | p99 ms |\n|---|---|---|")
                        for mode, (p50, p99) in (await latency(http, rounds)).items():
                            print(f"| {mode} | {p50:.1f} | {p99:.1f} |")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--floor",
        type=float,
        action="append",
        help="relevance floor to measure (repeatable; default: the configured one)",
    )
    parser.add_argument("--scale", type=int, default=0, help="utterances to add for the latency run (e.g. 100000)")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.floor, args.scale, args.rounds))
