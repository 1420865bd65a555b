"""One full analysis against the real Claude API. Skipped unless ANTHROPIC_API_KEY is set (CI has none).

Run it with `ANTHROPIC_API_KEY=sk-ant-… .venv/bin/pytest -m live`; it analyses one short call twice (once per
cache-sharing strategy), four agents each: about 8 × 3k input and 8 × 2–5k output tokens (thinking included)
on the default model, roughly 0.3 US dollars at Sonnet 5.5's list prices.
"""

from __future__ import annotations

import os

import pytest

from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, TenantFactory, asgi_client, make_settings, running_app

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="needs ANTHROPIC_API_KEY (a real, billed call)"),
]


@pytest.mark.parametrize("cache_sharing", ["parallel", "leader"])
async def test_one_analysis_on_the_real_api(database_url: str, cache_sharing: str) -> None:
    settings = make_settings(
        database_url,
        "",
        anthropic_api_key=os.environ["ANTHROPIC_API_KEY"],
        anthropic_base_url=os.environ.get("ANTHROPIC_BASE_URL") or None,
        cache_sharing=cache_sharing,
    )
    async with running_app(settings) as app, asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"], force=True)
        stored = await wait_until_finished(gql, who, analysis["id"], timeout=600)
    runs = stored["agentRuns"]
    assert stored["status"] == "SUCCEEDED", [(run["agent"], run["error"]) for run in runs]
    assert all(run["metadata"]["simulated"] is False for run in runs)
    assert stored["totals"]["cacheWriteTokens"] > 0  # the transcript went into the prompt cache
    if cache_sharing == "leader":  # one shared schema: the followers read the leader's entry
        assert stored["totals"]["cacheReadTokens"] > 0
