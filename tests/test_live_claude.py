"""One full analysis against the real Claude API. Skipped unless ANTHROPIC_API_KEY is set (CI has none).

Run it with `ANTHROPIC_API_KEY=sk-ant-… .venv/bin/pytest -m live`; it sends the four agents' requests for one
short call once (about 4 × 3k input and 4 × 1–2k output tokens on the default model: a few US cents).
"""

from __future__ import annotations

import os

import httpx
import pytest

from dealgraph.server.app import create_app
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, TenantFactory, make_settings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not os.environ.get("ANTHROPIC_API_KEY"), reason="needs ANTHROPIC_API_KEY (a real, billed call)"),
]


async def test_one_analysis_on_the_real_api(database_url: str) -> None:
    settings = make_settings(database_url, "", anthropic_api_key=os.environ["ANTHROPIC_API_KEY"],
                             anthropic_base_url=os.environ.get("ANTHROPIC_BASE_URL") or None, llm_timeout_s=300.0)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dealgraph.test") as http:
            gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
            who = await tenants.create()
            analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"], force=True)
            stored = await wait_until_finished(gql, who, analysis["id"], timeout=600)
    runs = stored["agentRuns"]
    assert stored["status"] == "SUCCEEDED", [(run["agent"], run["error"]) for run in runs]
    assert all(run["metadata"]["simulated"] is False for run in runs)
    assert stored["totals"]["cacheReadTokens"] > 0  # the followers read the leader's cache entry
