"""Semantic and hybrid search on pgvector: each mode through GraphQL, tenant isolation of the nearest
neighbours, and the embedding queue's durability (a dead worker's job completes elsewhere).

Runs on an embedded PostgreSQL in both CI passes (see tests/vector_support.py); the background worker
is off here and tests drive `EmbeddingPool` by hand, so nothing waits on a timer.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import select, text, update
from starlette.applications import Starlette
from strawberry.relay import GlobalID

from dealgraph.config import Settings
from dealgraph.db.models import SearchJob
from dealgraph.db.repositories import search_jobs
from dealgraph.search.embedding_pool import EmbeddingPool
from dealgraph.standin import RunningStandin
from tests.processes import run_cli
from tests.support import GraphQLClient, TenantFactory, asgi_client, make_settings, running_app, wait_for
from tests.vector_support import drain, pgvector_server_url, seed_calls

SEARCH = """
query($q: String!, $mode: SearchMode, $deal: ID, $first: Int, $after: String) {
  searchTranscripts(query: $q, mode: $mode, dealId: $deal, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { rank relevance snippet matchedBy similarity transcript { title } utterance { index speaker start text } } }
  }
}"""
STATUS = "query($id: ID!) { transcript(id: $id) { searchStatus } }"


@pytest.fixture(scope="module")
def server_url(server_url: str) -> Iterator[str]:
    yield from pgvector_server_url(server_url)


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    return make_settings(database_url, standin_server.base_url)  # background worker off: tests drive it


def _worker(app: Starlette, settings: Settings, **overrides: object) -> EmbeddingPool:
    return EmbeddingPool(app.state.database, settings.model_copy(update=overrides))


async def _search(gql: GraphQLClient, who: object, q: str, **variables: object) -> list[dict]:
    data = await gql(SEARCH, {"q": q, **variables}, as_=who)  # type: ignore[arg-type]
    return [edge["node"] for edge in data["searchTranscripts"]["edges"]]


async def test_add_transcript_is_pending_until_the_worker_embeds_it(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"fb1"})
    transcript_id = seeded["calls"]["fb1"]["id"]
    assert (await gql(STATUS, {"id": transcript_id}, as_=who))["transcript"]["searchStatus"] == "PENDING"
    assert await _search(gql, who, "who raised security concerns?", mode="SEMANTIC") == []  # nothing embedded yet
    assert await drain(_worker(app, settings)) >= 1
    assert (await gql(STATUS, {"id": transcript_id}, as_=who))["transcript"]["searchStatus"] == "READY"


async def test_each_mode_through_graphql(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    await seed_calls(gql, who, {"fb1", "nw2"})
    await drain(_worker(app, settings))

    keyword = await _search(gql, who, "infosec", mode="KEYWORD")
    assert [h["utterance"]["index"] for h in keyword] == [1] and keyword[0]["matchedBy"] == ["KEYWORD"]
    assert "<mark>infosec</mark>" in keyword[0]["snippet"] and keyword[0]["similarity"] is None

    semantic = await _search(gql, who, "our infosec team needs to review everything first", mode="SEMANTIC", first=5)
    assert len(semantic) == 5 and all(h["matchedBy"] == ["SEMANTIC"] for h in semantic)
    assert all(-1.0 <= h["similarity"] <= 1.0 for h in semantic)
    assert [h["rank"] for h in semantic] == sorted((h["rank"] for h in semantic), reverse=True)
    assert semantic[0]["transcript"]["title"] == "Fabrikam security review"

    hybrid = await _search(gql, who, "infosec review", mode="HYBRID", first=10)
    top = hybrid[0]
    assert top["utterance"] == {"index": 1, "speaker": "Priya Raman", "start": 40.0, "text": top["utterance"]["text"]}
    assert sorted(top["matchedBy"]) == ["KEYWORD", "SEMANTIC"]  # found by both, so fused first
    assert any(h["matchedBy"] == ["SEMANTIC"] for h in hybrid)  # and meaning-only hits follow
    default = await _search(gql, who, "infosec review", first=10)  # no mode: HYBRID where pgvector is
    assert default == hybrid


async def test_the_relevance_floor_drops_unrelated_semantic_matches(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    await seed_calls(gql, who, {"fb1"})  # a security review call: nothing in it is about geography
    await drain(_worker(app, settings))
    unrelated, related = "what is the capital of france", "who raised security concerns?"
    without_floor = settings.model_copy(update={"search_relevance_floor": -1.0, "auto_migrate": False})
    async with running_app(without_floor) as unfloored, asgi_client(unfloored) as http:
        before = await _search(GraphQLClient(http), who, unrelated, mode="SEMANTIC")
    assert before and all(h["similarity"] < settings.search_relevance_floor for h in before)  # noise, yet returned

    for mode in ("SEMANTIC", "HYBRID"):
        assert await _search(gql, who, unrelated, mode=mode) == []
    semantic = await _search(gql, who, related, mode="SEMANTIC", first=50)
    assert (1, "Priya Raman") in {(h["utterance"]["index"], h["utterance"]["speaker"]) for h in semantic}  # the answer
    assert all(h["relevance"] == h["similarity"] >= settings.search_relevance_floor for h in semantic)
    hybrid = await _search(gql, who, related, mode="HYBRID", first=50)
    for hit in hybrid:  # a keyword match is kept whatever its similarity; a semantic-only one only above the floor
        assert "KEYWORD" in hit["matchedBy"] or hit["similarity"] >= settings.search_relevance_floor
        assert 0 < hit["relevance"] <= 1 and hit["relevance"] >= (hit["similarity"] or 0)


async def test_hybrid_pages_and_filters_by_deal(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"fb1", "gx1"})
    await drain(_worker(app, settings))
    first = await gql(SEARCH, {"q": "security", "mode": "HYBRID", "first": 3}, as_=who)
    page = first["searchTranscripts"]
    assert page["pageInfo"]["hasNextPage"] and len(page["edges"]) == 3
    rest = await gql(
        SEARCH, {"q": "security", "mode": "HYBRID", "first": 3, "after": page["pageInfo"]["endCursor"]}, as_=who
    )
    seen = {(e["node"]["transcript"]["title"], e["node"]["utterance"]["index"]) for e in page["edges"]}
    assert seen.isdisjoint(
        {
            (e["node"]["transcript"]["title"], e["node"]["utterance"]["index"])
            for e in rest["searchTranscripts"]["edges"]
        }
    )
    globex = await _search(gql, who, "security", mode="HYBRID", deal=seeded["deals"]["Globex analytics"], first=50)
    assert globex and {h["transcript"]["title"] for h in globex} == {"Globex product demo"}


async def test_another_tenants_nearest_neighbour_is_never_returned(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    owner, stranger = await tenants.create(), await tenants.create()
    await seed_calls(gql, owner, {"fb1"})
    await seed_calls(gql, stranger, {"gx1"})
    await drain(_worker(app, settings))
    exact = "Our infosec team will need to review everything before we can move forward."
    # The stranger's own best match is far weaker than the owner's identical sentence, yet never the owner's.
    hits = await _search(gql, stranger, exact, mode="SEMANTIC", first=100)
    assert hits and {h["transcript"]["title"] for h in hits} == {"Globex product demo"}
    hybrid = await _search(gql, stranger, exact, mode="HYBRID", first=100)
    assert {h["transcript"]["title"] for h in hybrid} == {"Globex product demo"}
    owner_hits = await _search(gql, owner, exact, mode="SEMANTIC", first=1)
    assert owner_hits[0]["similarity"] > hits[0]["similarity"]


async def test_a_dead_workers_job_completes_elsewhere(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"nw1"})
    database = app.state.database
    async with database.owner_session() as session:
        dead = await search_jobs.claim(session, claimer_id="dead-worker", lease_s=0.5, max_attempts=3)
    assert dead is not None  # claimed, then the worker "dies": it never finishes
    assert dead.transcript_id == uuid.UUID(GlobalID.from_id(seeded["calls"]["nw1"]["id"]).node_id)
    survivor = _worker(app, settings)
    async with database.owner_session() as session:  # while the lease runs, nobody else may take it
        assert (
            await session.scalar(select(SearchJob.status).where(SearchJob.transcript_id == dead.transcript_id))
            == "running"
        )

    async def lease_expired() -> bool:
        async with database.owner_session() as session:
            return bool(
                await session.scalar(
                    select(SearchJob.lease_expires_at < text("now()")).where(
                        SearchJob.transcript_id == dead.transcript_id
                    )
                )
            )

    await wait_for(lease_expired)  # the lease is 0.5 s: until the database clock passes it
    await drain(survivor)
    async with database.owner_session() as session:
        job = await session.get(SearchJob, dead.transcript_id)
        assert job is not None and job.status == "ready" and job.attempts == 2 and job.worker_id == survivor.claimer_id
        windows = await session.scalar(
            text("SELECT count(*) FROM transcript_windows WHERE transcript_id = :t"), {"t": dead.transcript_id}
        )
        utterances = await session.scalar(
            text("SELECT utterance_count FROM transcripts WHERE id = :t"), {"t": dead.transcript_id}
        )
        assert windows == utterances
        # The dead worker waking up late cannot overwrite the survivor's result (writes are fenced on worker_id).
        assert not await search_jobs.finish(session, dead, "dead-worker", "some-other-model")


async def test_a_failing_job_is_retried_then_marked_failed(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    class Broken:
        model_id, dimensions = "broken", 3

        def embed(self, texts: object) -> object:
            raise RuntimeError("model file is corrupt")

    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"gx2"})
    worker = EmbeddingPool(app.state.database, settings, embedder=Broken())  # type: ignore[arg-type]
    assert await drain(worker) == settings.embedding_max_attempts
    assert (await gql(STATUS, {"id": seeded["calls"]["gx2"]["id"]}, as_=who))["transcript"]["searchStatus"] == "FAILED"
    async with app.state.database.owner_session() as session:  # a healthy re-run (reembed) recovers it
        await session.execute(update(SearchJob).where(SearchJob.status == "failed").values(model="stale"))
        assert await search_jobs.requeue_stale(session, "wordllama-l2_supercat-256", 100) >= 1
    await drain(_worker(app, settings))
    assert (await gql(STATUS, {"id": seeded["calls"]["gx2"]["id"]}, as_=who))["transcript"]["searchStatus"] == "READY"


async def test_serve_embeds_in_the_background(gql: GraphQLClient, tenants: TenantFactory, settings: Settings) -> None:
    """addTranscript only queues; the worker that `serve` runs picks the job up on its own."""
    who = await tenants.create()
    transcript_id = (await seed_calls(gql, who, {"in1"}))["calls"]["in1"]["id"]
    background = settings.model_copy(update={"embedding_pool": True, "embedding_poll_s": 0.1, "auto_migrate": False})

    async def ready() -> bool:
        return (await gql(STATUS, {"id": transcript_id}, as_=who))["transcript"]["searchStatus"] == "READY"

    async with running_app(background):
        await wait_for(ready, timeout=60)  # generous on a loaded machine


@pytest.mark.processes
async def test_reembed_cli_brings_outdated_transcripts_to_the_current_model(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings, database_url: str
) -> None:
    who = await tenants.create()
    transcript_id = (await seed_calls(gql, who, {"gx1"}))["calls"]["gx1"]["id"]
    await drain(_worker(app, settings))
    async with app.state.database.owner_session() as session:  # as if embedded by an earlier model
        await session.execute(update(SearchJob).values(model="an-earlier-model"))
    assert (await gql(STATUS, {"id": transcript_id}, as_=who))["transcript"]["searchStatus"] == "OUTDATED"
    done = run_cli(database_url, "reembed")
    assert done.returncode == 0, done.stderr
    assert "re-embedded" in done.stdout and not done.stdout.startswith("re-embedded 0 ")
    assert (await gql(STATUS, {"id": transcript_id}, as_=who))["transcript"]["searchStatus"] == "READY"
    again = run_cli(database_url, "reembed")  # nothing left: a rerun (or a resumed run) does no work twice
    assert again.returncode == 0 and "re-embedded 0 transcript(s)" in again.stdout


FILTERED = """
query($q: String!, $mode: SearchMode, $account: ID, $speaker: String, $from: DateTime, $to: DateTime) {
  searchTranscripts(query: $q, mode: $mode, accountId: $account, speaker: $speaker, occurredFrom: $from, occurredTo: $to, first: 100) {
    edges { node { transcript { title } utterance { speaker } } }
  }
}"""


@pytest.mark.parametrize("mode", ["KEYWORD", "SEMANTIC", "HYBRID"])
async def test_filters_by_account_speaker_and_date_in_every_mode(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings, mode: str
) -> None:
    who = await tenants.create()
    await seed_calls(gql, who, {"nw1", "nw2", "fb1", "fb2"})
    await drain(_worker(app, settings))
    accounts = await gql("{ accounts(first: 10) { edges { node { id name } } } }", as_=who)
    fabrikam = next(e["node"]["id"] for e in accounts["accounts"]["edges"] if e["node"]["name"] == "Fabrikam Health")

    async def titles_and_speakers(**variables: object) -> set[tuple[str, str]]:
        data = await gql(FILTERED, {"q": "review or price or team or budget", "mode": mode, **variables}, as_=who)
        return {
            (e["node"]["transcript"]["title"], e["node"]["utterance"]["speaker"])
            for e in data["searchTranscripts"]["edges"]
        }

    everything = await titles_and_speakers()
    assert {title for title, _ in everything} >= {"Northwind pricing follow-up", "Fabrikam security review"}
    by_account = await titles_and_speakers(account=fabrikam)
    assert by_account and {title for title, _ in by_account} <= {
        "Fabrikam security review",
        "Fabrikam procurement and legal",
    }
    by_speaker = await titles_and_speakers(speaker="linda MOORE")
    assert by_speaker and {speaker for _, speaker in by_speaker} == {"Linda Moore"}
    september = await titles_and_speakers(**{"from": "2026-09-01T00:00:00Z", "to": "2026-09-12T00:00:00Z"})
    assert september and {title for title, _ in september} <= {
        "Northwind discovery call",
        "Fabrikam procurement and legal",
    }


async def test_deal_moments_answer_from_that_deals_calls_only(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    seeded = await seed_calls(gql, who, {"nw1", "nw2", "gx2"})
    await drain(_worker(app, settings))
    moments = await gql(
        'query($d: ID!) { deal(id: $d) { moments(query: "where did they push back on price?", first: 5) {'
        " edges { node { matchedBy transcript { title } utterance { index speaker start } } } } } }",
        {"d": seeded["deals"]["Northwind rollout"]},
        as_=who,
    )
    hits = [e["node"] for e in moments["deal"]["moments"]["edges"]]
    assert len(hits) == 5 and {h["transcript"]["title"] for h in hits} <= {
        "Northwind discovery call",
        "Northwind pricing follow-up",
    }
    assert all(h["utterance"]["start"] is not None and h["matchedBy"] for h in hits)
