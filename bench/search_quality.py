"""Search quality on the labelled set: recall@5 and MRR for KEYWORD, SEMANTIC and HYBRID side by side,
plus ingest speed (utterances embedded per second) and, with --scale N, search p50/p99 over N utterances
of one tenant. Runs the real app in-process on an embedded PostgreSQL (it ships pgvector).

  .venv/bin/python -m bench.search_quality [--scale 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from bench.search_corpus import CALLS, QUERIES, relevant
from bench.support import create_api_key, fresh_database, postgres_server
from dealgraph.config import Settings
from dealgraph.db.repositories.vectors import vector_literal
from dealgraph.search.embedders import get_embedder
from dealgraph.search.embedding_pool import EmbeddingWorker
from dealgraph.search.windows import Spoken, windows
from dealgraph.server.app import create_app

MODES = ("KEYWORD", "SEMANTIC", "HYBRID")
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


async def quality(http: httpx.AsyncClient) -> dict[str, tuple[float, float]]:
    by_title = {call.title: call.key for call in CALLS}
    labels = relevant()
    scores: dict[str, tuple[float, float]] = {}
    for mode in MODES:
        recall = mrr = 0.0
        for query_id, question in QUERIES.items():
            data = await _gql(http, SEARCH, {"q": question, "mode": mode, "first": 50})
            ranked = [
                (by_title[e["node"]["transcript"]["title"]], e["node"]["utterance"]["index"])
                for e in data["searchTranscripts"]["edges"]
            ]
            wanted = labels[query_id]
            recall += len(wanted & set(ranked[:5])) / len(wanted)
            mrr += next((1.0 / (i + 1) for i, key in enumerate(ranked) if key in wanted), 0.0)
        scores[mode] = (recall / len(QUERIES), mrr / len(QUERIES))
    return scores


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


async def main(scale: int, rounds: int) -> None:
    with postgres_server("embedded") as (server_url, origin):
        async with fresh_database(server_url) as db:
            settings = Settings(
                database_url=db.url,
                embedding_pool=False,
                analysis_slots=0,
                anthropic_api_key="unused",
                anthropic_base_url="http://127.0.0.1:9",
            )
            app = create_app(settings)
            async with app.router.lifespan_context(app):
                key = await create_api_key(db.url, "Bench")
                async with httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app),
                    base_url="http://bench",
                    headers={"Authorization": f"Bearer {key}"},
                    timeout=120,
                ) as http:
                    await _seed(http)
                    worker = EmbeddingWorker(app.state.database, settings)
                    started = time.perf_counter()
                    while await worker.run_once():
                        pass
                    utterances = sum(len(c.lines) for c in CALLS)
                    print(
                        f"PostgreSQL {db.version} ({origin}); model {worker.embedder.model_id}, "
                        f"window ±{settings.embedding_neighbours}"
                    )
                    print(
                        f"ingest: {utterances / (time.perf_counter() - started):.0f} utterances/s embedded and stored "
                        f"(queue claim, embed, write; {len(CALLS)} calls)"
                    )
                    print(f"\n{len(QUERIES)} paraphrase queries, {utterances} utterances\n")
                    print("| mode | recall@5 | MRR |\n|---|---|---|")
                    for mode, (recall, mrr) in (await quality(http)).items():
                        print(f"| {mode} | {recall:.3f} | {mrr:.3f} |")
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
    parser.add_argument("--scale", type=int, default=0, help="utterances to add for the latency run (e.g. 100000)")
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.scale, args.rounds))
