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
