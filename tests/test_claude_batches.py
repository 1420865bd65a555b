"""`dealgraph.claude.batches` against the stand-in through the real SDK: each result line becomes what
`LlmClient.complete` would have returned or raised, matched by custom id, whatever the order."""

from __future__ import annotations

from dealgraph.agents.kinds import AgentKind
from dealgraph.claude.batches import BatchOutcome, LlmBatches
from dealgraph.claude.client import LlmClient
from dealgraph.config import Settings
from dealgraph.runs.check import builtin_configurations, check_request
from dealgraph.standin import RunningStandin
from tests.support import StandinControl, wait_for


async def test_outcomes_carry_the_completion_or_the_error_complete_would_raise(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = Settings(anthropic_api_key="test-key", anthropic_base_url=standin_server.base_url)
    requests = {
        f"call-{configuration.agent.value.replace('_', '-')}": check_request(configuration, "parallel", tenant_key="t")
        for configuration in builtin_configurations(settings)
    }
    await standin.behave("stakeholders", fail_always=529)
    await standin.behave("action_items", stops=["refusal"])
    await standin.behave("meeting_intelligence", held=True)
    llm = LlmClient(settings)
    batches = LlmBatches(llm)
    try:
        submitted = await batches.submit(requests)
        assert submitted.simulated and submitted.processing == 4 and not submitted.ended
        await wait_for(lambda: standin.statuses(AgentKind.MEDDPICC.value))
        await batches.cancel(submitted.batch_id)
        await wait_for(lambda: _ended(batches, submitted.batch_id))
        max_tokens = {custom_id: request.max_tokens for custom_id, request in requests.items()}
        outcomes: dict[str, BatchOutcome] = {
            outcome.custom_id: outcome async for outcome in batches.results(submitted.batch_id, max_tokens)
        }
    finally:
        await llm.close()
    meddpicc = outcomes["call-meddpicc"].completion
    assert meddpicc is not None and meddpicc.simulated and meddpicc.text.startswith("{")
    assert meddpicc.usage.input_tokens > 0 and meddpicc.stop_reason == "end_turn"
    errors = {custom_id: outcome.error for custom_id, outcome in outcomes.items() if outcome.error is not None}
    assert {custom_id: (error.code, error.retryable) for custom_id, error in errors.items()} == {
        "call-stakeholders": ("OVERLOADED", True),
        "call-action-items": ("REFUSED", False),
        "call-meeting-intelligence": ("BATCH_CANCELED", False),
    }
    assert errors["call-stakeholders"].message.startswith("in a batch: Simulated overloaded_error")


async def _ended(batches: LlmBatches, batch_id: str) -> bool:
    return (await batches.status(batch_id)).ended
