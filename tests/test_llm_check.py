"""`dealgraph llm check` (`dealgraph.runs.check`) against the stand-in: both cache-sharing schemas of every
configuration are sent, and an answer a run could not use is reported as such, not as accepted."""

from __future__ import annotations

from dealgraph.agents.kinds import AgentKind
from dealgraph.config import Settings
from dealgraph.runs.check import AgentConfiguration, check_agents
from dealgraph.standin import RunningStandin
from tests.support import StandinControl


async def test_refusal_and_max_tokens_stops_are_reported_not_accepted(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = Settings(anthropic_api_key="test-key", anthropic_base_url=standin_server.base_url)
    await standin.behave("meddpicc", stops=["refusal", "max_tokens"])
    configuration = AgentConfiguration(AgentKind.MEDDPICC, "claude-sonnet-5-5", "low")
    parallel, leader = await check_agents(settings, [configuration])
    assert (parallel.cache_sharing, leader.cache_sharing) == ("parallel", "leader")
    assert not parallel.accepted and parallel.detail.startswith("REFUSED the model declined")
    assert "category: general_harms" in parallel.detail and "REJECTED: REFUSED" in parallel.line()
    assert not leader.accepted and leader.detail.startswith("OUTPUT_TRUNCATED")
    assert await standin.statuses("meddpicc") == [200, 200]
    again = await check_agents(settings, [configuration])
    assert [result.accepted for result in again] == [True, True]
