"""One full analysis against the real Claude API. Skipped unless ANTHROPIC_API_KEY is set (CI has none).

Run it with `ANTHROPIC_API_KEY=sk-ant-… .venv/bin/pytest -m live`; it analyses one short call twice (once per
cache-sharing strategy), four agents each: about 8 × 3k input and 8 × 2–5k output tokens (thinking included)
on the default model, and one MEDDPICC run at effort `max` with up to 16,000 output tokens: roughly 0.6 US
dollars at Sonnet 5.5's list prices. Every run uses the default deadlines: a long answer must fit them.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from dealgraph.config import Settings
from dealgraph.runs.check import builtin_configurations, check_agents
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, TenantFactory, asgi_client, make_settings, running_app

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="needs ANTHROPIC_API_KEY (a real, billed call)"),
]


RUNS = """query($id: ID!) { analysis(id: $id) { agentRuns { agent status error { code message }
  metadata { cacheRole cacheReadTokens cacheWriteTokens effort outputTokens thinkingTokens latencyMs } } } }"""
LONG_VERSION = """mutation($input: PromptVersionInput!) {
  createPromptVersion(input: $input) { promptVersion { id } errors { field message code } } }"""
DEADLINES = ("llm_first_byte_timeout_s", "llm_idle_timeout_s", "llm_timeout_s", "llm_timeout_s_per_1k_tokens")


def live_settings(database_url: str, **overrides: Any) -> Settings:
    """The real API with the shipped deadlines: a test that needed longer ones would hide the defect it is for."""
    settings = make_settings(
        database_url,
        "",
        anthropic_api_key=os.environ["ANTHROPIC_API_KEY"],
        anthropic_base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
        **overrides,
    )
    for name in DEADLINES:
        assert getattr(settings, name) == Settings.model_fields[name].default, name
    return settings


@pytest.mark.parametrize("cache_sharing", ["parallel", "leader"])
async def test_one_analysis_on_the_real_api(database_url: str, cache_sharing: str) -> None:
    settings = live_settings(database_url, cache_sharing=cache_sharing)
    async with running_app(settings) as app, asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"], force=True)
        stored = await wait_until_finished(gql, who, analysis["id"], timeout=600)
        cache = (await gql(RUNS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    runs = stored["agentRuns"]
    assert stored["status"] == "SUCCEEDED", [(run["agent"], run["error"]) for run in runs]
    assert all(run["metadata"]["simulated"] is False for run in runs)
    assert stored["totals"]["cacheWriteTokens"] > 0  # the transcript went into the prompt cache
    if cache_sharing == "leader":  # one shared schema: EVERY follower reads the leader's entry
        roles = {run["agent"]: run["metadata"] for run in cache}
        followers = {agent: meta for agent, meta in roles.items() if meta["cacheRole"] == "follower"}
        assert followers, roles
        unread = {agent: meta for agent, meta in followers.items() if meta["cacheReadTokens"] == 0}
        # The agents ask at different efforts; a follower that reads nothing means effort is part of the
        # cache prefix, and the leader saving in docs/agents.md does not hold.
        assert not unread, f"followers that read no cache: {unread}"


async def test_a_long_answer_fits_the_default_deadlines(database_url: str) -> None:
    """MEDDPICC at effort `max` with 16,000 output tokens: the longest answer an admin can configure on the
    default model, under the deadlines `serve` ships with (first byte, idle, and the cap scaled from max_tokens)."""
    async with running_app(live_settings(database_url)) as app, asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        version = {
            "agent": "MEDDPICC",
            "labels": ["production"],
            "effort": "MAX",
            "maxTokens": 16000,
            "note": "the longest answer",
            "systemText": "You are a meticulous sales call analyst. Consider every element in depth.",
            "userTemplate": "Qualify {{ deal.name }} from this call exhaustively, with every piece of evidence.",
        }
        created = (await gql(LONG_VERSION, {"input": version}, as_=who))["createPromptVersion"]
        assert created["errors"] == [], created
        ids = await transcript_for_analysis(gql, who)
        analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"], force=True)
        await wait_until_finished(gql, who, analysis["id"], timeout=1200)
        [run] = (await gql(RUNS, {"id": analysis["id"]}, as_=who))["analysis"]["agentRuns"]
    assert run["status"] == "SUCCEEDED", run["error"]
    assert run["metadata"]["effort"] == "max" and run["metadata"]["outputTokens"] > 0, run["metadata"]


async def test_followers_read_the_leaders_cache_entry_and_the_api_says_why_not(database_url: str) -> None:
    """The built-in agents ask at different efforts. In leader mode each follower names the leader's message in
    the API's cache `diagnostics`, so a miss comes back with its reason (e.g. a changed system prompt) instead of
    only a zero: the question the leader saving in docs/agents.md rests on."""
    settings = live_settings(database_url)
    results = await check_agents(settings, builtin_configurations(settings))
    leaders = [r for r in results if r.cache_sharing == "leader" and r.detail.endswith("; leads")]
    followers = [r for r in results if r.cache_sharing == "leader" and "; follows " in r.detail]
    assert all(r.accepted for r in results), [r.line() for r in results if not r.accepted]
    assert leaders and followers, [r.line() for r in results]
    # Each agent's user turn is its own, so `messages_changed` after the shared prefix is expected; any other
    # reason (system, model, tools, or another parameter such as effort) means the prefix itself was not reused.
    missed = [
        r.line()
        for r in followers
        if r.usage.cache_read_tokens == 0
        or ("cache miss" in r.detail and "cache miss messages_changed" not in r.detail)
    ]
    assert not missed, "followers that did not reuse the leader's prefix:\n" + "\n".join(missed)
