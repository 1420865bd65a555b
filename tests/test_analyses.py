"""Live analyses end to end: HTTP mutation, WebSocket subscription, real SDK against the stand-in."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.standin import RunningStandin
from tests.analysis_support import (
    AGENTS,
    ANALYSIS,
    ANALYSIS_EVENTS,
    DEAL_EVENTS,
    START,
    analyse_live,
    kinds,
    start,
    transcript_for_analysis,
    wait_for_runs,
    wait_until_finished,
)
from tests.support import (
    GraphQLClient,
    StandinControl,
    TenantFactory,
    make_settings,
    recording_round_trips,
    subscribe,
    wait_for,
    websocket,
)

COMPLETION_ORDER = ["meeting_intelligence", "action_items", "stakeholders", "meddpicc"]


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """Leases no stall of a loaded machine outlasts: these tests count each run's events, and a run whose lease
    ran out while the test process waited for a core is started again (`AgentStarted` with attempt 2), as it
    should be. Leases running out are tests/test_lease.py's subject."""
    return make_settings(database_url, standin_server.base_url, lease_s=30.0)


async def test_results_are_pushed_in_completion_order_and_persisted(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    # Every answer is held by the stand-in until the test releases it, one agent at a time, after the previous
    # agent's result has been pushed: the order is scripted, not timed, so a loaded machine cannot reorder it,
    # and a server that batched or delayed results would never push the released agent's result in time.
    for agent in COMPLETION_ORDER:  # streams last 4 progress intervals: a run reports progress one interval in
        await standin.behave(agent, latency_s=0.2, held=True)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    call_reads = app.state.analysis_pool.runner.call_reads.reads
    async with websocket(app, who.api_key) as ws:
        analysis = await start(gql, who, ids["transcript"])
        subscription = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
        events: list[dict[str, Any]] = []
        for agent in COMPLETION_ORDER:
            await standin.release(agent)
            while ("AgentSucceeded", agent.upper()) not in kinds(events):
                event = await subscription.next()
                assert event is not None, kinds(events)
                events.append(event)
            succeeded = [a for typename, a in kinds(events) if typename == "AgentSucceeded"]
            assert succeeded[-1] == agent.upper(), succeeded  # nothing else finished before it was released
        events += await subscription.collect()
    assert analysis["status"] == "QUEUED" and sorted(analysis["agents"]) == sorted(a.upper() for a in AGENTS)
    # runs claimed together share one read of the call: one per claim that took some of them, not one per agent
    assert app.state.analysis_pool.runner.call_reads.reads - call_reads < len(AGENTS)

    succeeded = [agent for typename, agent in kinds(events) if typename == "AgentSucceeded"]
    assert succeeded == [a.upper() for a in COMPLETION_ORDER]  # each pushed when it finished
    assert kinds(events)[-1] == ("AnalysisFinished", None)
    for agent in succeeded:  # progress was reported before each result
        position = kinds(events).index(("AgentSucceeded", agent))
        assert ("AgentProgress", agent) in kinds(events)[:position]
    state_changes = [k for k in kinds(events) if k[0] != "AgentProgress"]
    assert len(state_changes) == len(set(state_changes)), state_changes  # no state event twice
    for agent in succeeded:  # queued (if subscribed before the claim), started, succeeded: in that order
        assert [k[0] for k in state_changes if k[1] == agent][-2:] == ["AgentStarted", "AgentSucceeded"]
    finished = events[-1]["analysisEvents"]
    assert finished["status"] == "SUCCEEDED" and finished["analysis"]["totals"]["succeeded"] == 4

    meddpicc = next(
        e["analysisEvents"]
        for e in events
        if e["analysisEvents"].get("agent") == "MEDDPICC" and e["analysisEvents"]["__typename"] == "AgentSucceeded"
    )
    assert meddpicc["run"]["metadata"]["simulated"] is True
    evidence = meddpicc["result"]["economicBuyer"]["evidence"]
    assert evidence and all(quote["verified"] and quote["speaker"] for quote in evidence)
    meeting = next(
        e["analysisEvents"]
        for e in events
        if e["analysisEvents"].get("agent") == "MEETING_INTELLIGENCE"
        and e["analysisEvents"]["__typename"] == "AgentSucceeded"
    )
    assert meeting["result"]["summary"].startswith("[simulated]")
    assert {t["speaker"] for t in meeting["result"]["talkTime"]} == {"Alice Chen", "Bob Martinez", "Carol Singh"}

    stored = (await gql(ANALYSIS, {"id": analysis["id"]}, as_=who))["analysis"]
    assert stored["status"] == "SUCCEEDED" and stored["simulated"] is True
    assert {run["agent"]: run["result"]["__typename"] for run in stored["agentRuns"]} == {
        "ACTION_ITEMS": "ActionItemsResult",
        "MEDDPICC": "MeddpiccResult",
        "MEETING_INTELLIGENCE": "MeetingIntelligenceResult",
        "STAKEHOLDERS": "StakeholdersResult",
    }
    for run in stored["agentRuns"]:
        metadata = run["metadata"]
        assert metadata["model"] == "claude-sonnet-5-5" and metadata["promptVersion"] == 1
        assert run["promptVersion"] == {
            "id": metadata["promptVersionId"],
            "version": 1,
            "template": {"isBuiltin": True},
        }
        assert metadata["reusedFromRunId"] is None
        assert metadata["inputTokens"] > 0 and metadata["outputTokens"] > 0 and metadata["attempts"] == 1
        assert metadata["evidenceVerified"] == metadata["evidenceTotal"] > 0
    # the default (parallel) cache sharing: each agent's own output schema, so each writes its own cache entry
    # (tests/test_cache_sharing.py covers the shared one)
    assert stored["totals"]["cacheWriteTokens"] > 0 and stored["totals"]["cacheReadTokens"] == 0


async def test_late_subscriber_gets_state_then_live_without_duplicates(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("meeting_intelligence", latency_s=0.05)
    await standin.behave("meddpicc", held=True)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"], agents=["MEETING_INTELLIGENCE", "MEDDPICC"])
    await wait_for_runs(gql, who, analysis["id"], {"MEETING_INTELLIGENCE": "SUCCEEDED", "MEDDPICC": "RUNNING"})
    async with websocket(app, who.api_key) as ws:
        subscription = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
        events = [await subscription.next(), await subscription.next()]  # the state, read before the release
        await standin.release("meddpicc")
        events += await subscription.collect()
    seen = kinds(events)
    assert seen[0] == ("AgentSucceeded", "MEETING_INTELLIGENCE")  # replayed from the database
    assert seen[1] == ("AgentStarted", "MEDDPICC")
    assert [k for k in seen if k[0] != "AgentProgress"] == [
        ("AgentSucceeded", "MEETING_INTELLIGENCE"),
        ("AgentStarted", "MEDDPICC"),
        ("AgentSucceeded", "MEDDPICC"),
        ("AnalysisFinished", None),
    ]

    async with websocket(app, who.api_key) as ws:  # after the end: the whole state, then complete
        replay = await (await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})).collect()
    assert kinds(replay) == [
        ("AgentSucceeded", "MEETING_INTELLIGENCE"),
        ("AgentSucceeded", "MEDDPICC"),
        ("AnalysisFinished", None),
    ]


async def test_deal_subscription_sees_every_analysis_of_the_deal(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("action_items", latency_s=0.2)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    hub = app.state.hub
    before = hub.subscriber_count
    async with websocket(app, who.api_key) as ws:
        subscription = await subscribe(ws, DEAL_EVENTS, {"id": ids["deal"]})
        await wait_for(lambda: hub.subscriber_count > before)  # subscribed before anything starts
        first = await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"])
        second = await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"])
        events = []
        while sum(k == ("AnalysisFinished", None) for k in kinds(events, "dealAnalysisEvents")) < 2:
            events.append(await subscription.next())
    statuses = [
        e["dealAnalysisEvents"]["status"] for e in events if e["dealAnalysisEvents"]["__typename"] == "AnalysisFinished"
    ]
    assert statuses == ["SUCCEEDED", "SUCCEEDED"]
    analyses = {e["dealAnalysisEvents"]["analysisId"] for e in events if "analysisId" in e["dealAnalysisEvents"]}
    assert analyses == {first["id"], second["id"]}


async def test_idempotency_key_returns_the_same_analysis(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    first = await start(gql, who, ids["transcript"], key="call-42")
    again = await start(gql, who, ids["transcript"], key="call-42")
    assert again["id"] == first["id"]
    other = await transcript_for_analysis(gql, who)
    conflict = (await gql(START, {"t": other["transcript"], "key": "call-42"}, as_=who))["startAnalysis"]
    assert conflict["errors"] == [
        {
            "field": "idempotencyKey",
            "message": "this key was already used for a different analysis request",
            "code": "CONFLICT",
        }
    ]
    stranger = await tenants.create()  # keys are per tenant
    theirs = await transcript_for_analysis(gql, stranger)
    assert (await start(gql, stranger, theirs["transcript"], key="call-42"))["id"] != first["id"]
    await wait_until_finished(gql, who, first["id"])


async def test_start_validation(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who, stranger = await tenants.create(), await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    empty = (await gql(START, {"t": ids["transcript"], "agents": []}, as_=who))["startAnalysis"]
    assert empty["errors"][0]["field"] == "agents"
    foreign = (await gql(START, {"t": ids["transcript"]}, as_=stranger))["startAnalysis"]
    assert foreign["errors"] == [{"field": "transcriptId", "message": "transcript not found", "code": "NOT_FOUND"}]


async def test_cancel_stops_running_agents(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    for agent in AGENTS:
        await standin.behave(agent, latency_s=5.0)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    async with websocket(app, who.api_key) as ws:
        analysis = await start(gql, who, ids["transcript"])
        subscription = await subscribe(ws, ANALYSIS_EVENTS, {"id": analysis["id"]})
        started = set()
        while len(started) < 4:
            event = (await subscription.next())["analysisEvents"]
            if event["__typename"] == "AgentStarted":
                started.add(event["agent"])
        cancel = await gql(
            "mutation($id: ID!) { cancelAnalysis(id: $id) { analysis { status } errors { code } } }",
            {"id": analysis["id"]},
            as_=who,
        )
        assert cancel["cancelAnalysis"] == {"analysis": {"status": "CANCELLED"}, "errors": []}
        rest = await subscription.collect(timeout=3)
    assert sorted(k for k in kinds(rest) if k[0] == "AgentCancelled") == sorted(
        ("AgentCancelled", a.upper()) for a in AGENTS
    )
    assert rest[-1]["analysisEvents"]["status"] == "CANCELLED"
    assert app.state.analysis_pool.active_runs == 0  # the workers really stopped
    await wait_for_runs(gql, who, analysis["id"], dict.fromkeys((a.upper() for a in AGENTS), "CANCELLED"))
    again = await gql(
        "mutation($id: ID!) { cancelAnalysis(id: $id) { errors { code } } }", {"id": analysis["id"]}, as_=who
    )
    assert again["cancelAnalysis"]["errors"] == [{"code": "CONFLICT"}]


async def test_overloaded_once_then_succeeds_on_retry(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("action_items", failures=[529], retry_after_s=0.05)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"], agents=["ACTION_ITEMS"])
    stored = await wait_until_finished(gql, who, analysis["id"])
    [run] = stored["agentRuns"]
    assert run["status"] == "SUCCEEDED" and run["metadata"]["attempts"] == 2
    assert await standin.statuses("action_items") == [529, 200]


async def test_one_agent_failing_for_good_does_not_fail_the_others_and_can_be_rerun(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("stakeholders", fail_always=500)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis = await start(gql, who, ids["transcript"])
    stored = await wait_until_finished(gql, who, analysis["id"])
    assert stored["status"] == "PARTIAL"
    by_agent = {run["agent"]: run for run in stored["agentRuns"]}
    assert by_agent["STAKEHOLDERS"]["status"] == "FAILED"
    assert by_agent["STAKEHOLDERS"]["error"]["code"] == "API_ERROR"
    assert await standin.statuses("stakeholders") == [500, 500, 500]  # the request and two retries
    assert all(by_agent[a]["status"] == "SUCCEEDED" for a in ("MEDDPICC", "ACTION_ITEMS", "MEETING_INTELLIGENCE"))
    assert stored["totals"] == stored["totals"] | {"succeeded": 3, "failed": 1, "pending": 0}

    refused = await gql(
        "mutation($a: ID!) { rerunAgent(analysisId: $a, agent: MEDDPICC) { errors { code } } }",
        {"a": analysis["id"]},
        as_=who,
    )
    assert refused["rerunAgent"]["errors"] == [{"code": "CONFLICT"}]
    await standin.behave("stakeholders", latency_s=0.05)
    rerun = await gql(
        "mutation($a: ID!) { rerunAgent(analysisId: $a, agent: STAKEHOLDERS) { agentRun { status } errors { code } } }",
        {"a": analysis["id"]},
        as_=who,
    )
    assert rerun["rerunAgent"] == {"agentRun": {"status": "QUEUED"}, "errors": []}
    assert (await wait_until_finished(gql, who, analysis["id"]))["status"] == "SUCCEEDED"


@pytest.mark.parametrize(("invalid_times", "status", "attempts"), [(1, "SUCCEEDED", 2), (2, "FAILED", None)])
async def test_invalid_output_is_retried_once_with_the_validation_error(
    app: Starlette,
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    invalid_times: int,
    status: str,
    attempts: int | None,
) -> None:
    await standin.behave("meddpicc", invalid_output_times=invalid_times, latency_s=0.3)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    analysis, events = await analyse_live(app, gql, who, ids["transcript"], agents=["MEDDPICC"])
    progress = [
        e["analysisEvents"]["outputTokens"] for e in events if e["analysisEvents"]["__typename"] == "AgentProgress"
    ]
    assert len(progress) > 2 and progress == sorted(progress)  # the retry continues the count, never restarts it
    [run] = (await wait_until_finished(gql, who, analysis["id"]))["agentRuns"]
    assert run["status"] == status
    if attempts:
        assert run["metadata"]["attempts"] == attempts
    else:
        assert run["error"]["code"] == "INVALID_OUTPUT" and "Field required" in run["error"]["message"]


@pytest.mark.parametrize(
    ("scripted", "code", "message"),
    [
        ({"stops": ["max_tokens"]}, "OUTPUT_TRUNCATED", "used all 16000 output tokens"),
        ({"stops": ["refusal"]}, "REFUSED", "declined to analyse this call"),
    ],
)
async def test_truncated_or_refused_answers_fail_the_run_clearly_without_a_retry(
    gql: GraphQLClient,
    tenants: TenantFactory,
    standin: StandinControl,
    scripted: dict[str, Any],
    code: str,
    message: str,
) -> None:
    await standin.behave("meddpicc", **scripted)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    stored = await wait_until_finished(gql, who, (await start(gql, who, ids["transcript"], agents=["MEDDPICC"]))["id"])
    [run] = stored["agentRuns"]
    assert run["status"] == "FAILED" and run["error"]["code"] == code and message in run["error"]["message"]
    assert await standin.statuses("meddpicc") == [200]  # neither is retried at the same limit


async def test_invalid_output_retry_sends_the_thinking_turn_back_and_succeeds(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    """The stand-in signs thinking blocks and refuses a retry turn whose blocks were altered or dropped."""
    await standin.behave("meddpicc", invalid_output_times=1, latency_s=0.05)
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    stored = await wait_until_finished(gql, who, (await start(gql, who, ids["transcript"], agents=["MEDDPICC"]))["id"])
    [run] = stored["agentRuns"]
    assert run["status"] == "SUCCEEDED" and run["metadata"]["attempts"] == 2
    assert await standin.thinking_blocks_received("meddpicc") == 1


async def test_an_analysis_announces_its_runs_and_their_ends_in_the_statements_that_write_them(
    app: Starlette, gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """NOTIFY transport: the runs' INSERT wakes the workers; a claim's `started` events ride on marking the
    analyses running; each run's end is one statement, its own transaction, that also sends the run's event
    (and the analysis' `finished`, from the run that finishes it). Every event still arrives, in order."""
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    with recording_round_trips(app.state.database) as sent:
        analysis, events = await analyse_live(app, gql, who, ids["transcript"], agents=["MEDDPICC", "STAKEHOLDERS"])
        await asyncio.sleep(0.05)  # the driver's loggers run soon after their statement
    inserts = [s for s in sent if "INSERT INTO agent_runs" in s]
    assert len(inserts) == 1 and "pg_notify" in inserts[0]
    assert sum("dealgraph_finish_run" in s for s in sent) == 2  # one round trip per run's end
    claims = sum("dealgraph_claim_runs" in s for s in sent)
    assert 1 <= claims and sum("WITH marked" in s and "pg_notify" in s for s in sent) <= claims
    progress = [e for e in events if e["analysisEvents"]["__typename"] == "AgentProgress"]
    lone = [s for s in sent if "pg_notify" in s and s not in inserts and "WITH marked" not in s]
    assert len(lone) <= len(progress), lone  # nothing else is announced on its own, but progress batches
    succeeded = sorted(agent for typename, agent in kinds(events) if typename == "AgentSucceeded")
    assert succeeded == ["MEDDPICC", "STAKEHOLDERS"] and kinds(events)[-1] == ("AnalysisFinished", None)
