"""`dealgraph llm check` (`dealgraph.runs.check`) against the stand-in, through the real SDK: what it sends is each
production version rendered on the sample call, streamed with the version's max_tokens and effort, in both
cache-sharing schemas; the prompt cache's writes and reads are reported, and a follower that cannot read the
leader's entry says why (the API's cache diagnostics); an answer a run could not use is not accepted."""

from __future__ import annotations

import re
from typing import Any

import anthropic

from dealgraph.agents.kinds import AgentKind
from dealgraph.claude.models import MODELS
from dealgraph.claude.tokens import tokens_in
from dealgraph.config import Settings
from dealgraph.db.models import PromptVersion
from dealgraph.prompts.sample_call import SAMPLE_CALL_TRANSCRIPT
from dealgraph.prompts.templates import version_fields
from dealgraph.runs.check import (
    AgentConfiguration,
    builtin_configurations,
    check_agents,
    check_batch,
    check_request,
)
from dealgraph.standin import RunningStandin
from tests.support import StandinControl


def _settings(standin_server: RunningStandin) -> Settings:
    return Settings(anthropic_api_key="test-key", anthropic_base_url=standin_server.base_url)


def _builtin(settings: Settings, *kinds: AgentKind) -> list[AgentConfiguration]:
    return [configuration for configuration in builtin_configurations(settings) if configuration.agent in kinds]


def _version(agent: AgentKind, *, system_text: str, user_template: str, **overrides: Any) -> AgentConfiguration:
    fields: dict[str, Any] = {"model": "claude-sonnet-5-5", "max_tokens": 16000, "effort": None} | overrides
    return AgentConfiguration(
        agent, PromptVersion(**version_fields(agent, system_text=system_text, user_template=user_template, **fields))
    )


async def test_each_version_is_sent_rendered_on_the_sample_call_with_its_own_limits(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    version = _version(
        AgentKind.STAKEHOLDERS,
        system_text="Map the buying group of {{ deal.name }} at {{ account.name }}.",
        user_template="{{ participants | join(', ') }} spoke on {{ meeting.date }}. Answer as {{ agent }}.",
        max_tokens=3000,
        effort="low",
    )
    parallel, leader = await check_agents(_settings(standin_server), [version])
    assert parallel.accepted and leader.accepted, (parallel.line(), leader.line())
    assert "max_tokens=3000" in parallel.line() and "effort=low" in parallel.line()
    sent = await standin.requests()
    assert len(sent) == 2
    participants = "Priya Raman, Tom Becker, Lena Fischer, Marcus Webb"
    for body in sent:
        assert body["stream"] is True and body["max_tokens"] == 3000 and body["model"] == "claude-sonnet-5-5"
        assert body["output_config"]["effort"] == "low"
        tenant, system, transcript = body["system"]
        assert tenant == sent[0]["system"][0] and tenant["text"].startswith("Tenant reference: ")
        assert system == {
            "type": "text",
            "text": "Map the buying group of Northwind onboarding analytics at Northwind Traders.",
        }
        assert transcript == {
            "type": "text",
            "text": SAMPLE_CALL_TRANSCRIPT.block,
            "cache_control": {"type": "ephemeral"},
        }
        assert body["messages"][0]["content"].startswith(f"{participants} spoke on 2026-03-10. Answer as stakeholders.")
    assert sent[0]["output_config"]["format"]["schema"]["title"] == "stakeholders"
    assert sent[1]["output_config"]["format"]["schema"]["title"] == "analysis"  # the schema all agents share
    assert "diagnostics" not in sent[0] and sent[1]["diagnostics"] == {"previous_message_id": None}


async def test_cache_writes_and_reads_are_reported_and_a_follower_says_why_it_missed(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = _settings(standin_server)
    own_system_text = _version(AgentKind.ACTION_ITEMS, system_text="List the commitments.", user_template="Go.")
    results = await check_agents(
        settings, [*_builtin(settings, AgentKind.MEDDPICC, AgentKind.STAKEHOLDERS), own_system_text]
    )
    lines = [result.line() for result in results]
    assert all(result.accepted for result in results), lines
    meddpicc_parallel, meddpicc_leader, stakeholders_parallel, stakeholders_follower, _, own_follower = results
    for written in (meddpicc_parallel, meddpicc_leader, stakeholders_parallel):  # each schema its own entry
        assert written.usage.cache_write_tokens > 0 and written.usage.cache_read_tokens == 0
        assert f"cache written {written.usage.cache_write_tokens} / read 0" in written.line()
    assert meddpicc_leader.line().endswith("; leads")
    # same system text as the leader: its whole cached prefix is read; only the agent's own user turn differs
    assert stakeholders_follower.usage.cache_read_tokens == meddpicc_leader.usage.cache_write_tokens
    assert f"read {meddpicc_leader.usage.cache_write_tokens})" in stakeholders_follower.line()
    assert "follows meddpicc: cache miss messages_changed" in stakeholders_follower.line()
    # another system text: nothing of the leader's entry can be read, and the diagnostics say so
    assert own_follower.usage.cache_read_tokens == 0
    assert "follows meddpicc: cache miss system_changed (~" in own_follower.line()
    sent = await standin.requests()
    leader_id = sent[3]["diagnostics"]["previous_message_id"]
    assert leader_id.startswith("msg_") and sent[5]["diagnostics"] == {"previous_message_id": leader_id}


def test_the_sample_calls_cached_prefix_is_above_every_models_minimum() -> None:
    """Without the output format's share, which the API may count otherwise: the transcript alone is enough."""
    settings = Settings(anthropic_api_key="test-key")
    for configuration in builtin_configurations(settings):
        request = check_request(configuration, "parallel", tenant_key="k")
        prefix = tokens_in(sum(len(block["text"]) for block in request.system))
        assert prefix >= 2 * max(caps.min_cacheable_tokens for caps in MODELS.values()), configuration.agent


async def test_refusal_and_max_tokens_stops_are_reported_not_accepted(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = _settings(standin_server)
    await standin.behave("meddpicc", stops=["refusal", "max_tokens"])
    parallel, leader = await check_agents(settings, _builtin(settings, AgentKind.MEDDPICC))
    assert (parallel.cache_sharing, leader.cache_sharing) == ("parallel", "leader")
    assert not parallel.accepted and parallel.detail.startswith("REFUSED the model declined")
    assert "category: general_harms" in parallel.detail and "REJECTED: REFUSED" in parallel.line()
    assert not leader.accepted and leader.detail.startswith("OUTPUT_TRUNCATED the model used all 16000")
    assert leader.usage.output_tokens > 0 and "out tokens" in leader.detail  # billed all the same
    assert await standin.statuses("meddpicc") == [200, 200]
    again = await check_agents(settings, _builtin(settings, AgentKind.MEDDPICC))
    assert [result.accepted for result in again] == [True, True]


async def test_a_version_that_cannot_render_is_reported_without_sending(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    broken = _version(AgentKind.MEDDPICC, system_text="Qualify.", user_template="{{ deal.owner }}")
    parallel, leader = await check_agents(_settings(standin_server), [broken])
    assert not parallel.accepted and not leader.accepted
    assert (
        parallel.detail
        == "NOT SENT: userTemplate: line 1: 'deal' has no attribute 'owner' (it has: name, stage, amount, currency, close_date)"
    )
    assert await standin.requests() == []


async def test_the_stand_in_answers_cache_diagnostics_as_the_sdk_types_them(sdk: anthropic.AsyncAnthropic) -> None:
    request: dict[str, Any] = {
        "model": "claude-sonnet-5-5",
        "max_tokens": 1024,
        "system": [{"type": "text", "text": SAMPLE_CALL_TRANSCRIPT.block, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "Summarise the call."}],
    }
    first = await sdk.messages.create(**request, diagnostics={"previous_message_id": None})
    assert first.diagnostics is None
    appended = [*request["messages"], {"role": "assistant", "content": "Done."}, {"role": "user", "content": "More."}]
    same = await sdk.messages.create(
        **(request | {"messages": appended}), diagnostics={"previous_message_id": first.id}
    )
    assert same.diagnostics is None  # appending turns is no divergence
    other = await sdk.messages.create(
        **request | {"model": "claude-haiku-5-5"}, diagnostics={"previous_message_id": first.id}
    )
    assert other.diagnostics is not None and other.diagnostics.cache_miss_reason is not None
    assert other.diagnostics.cache_miss_reason.type == "model_changed"
    assert (
        other.diagnostics.cache_miss_reason.cache_missed_input_tokens
        == first.usage.cache_creation_input_tokens + first.usage.input_tokens
    )
    unknown = await sdk.messages.create(**request, diagnostics={"previous_message_id": "msg_01unknown"})
    assert unknown.diagnostics is not None and unknown.diagnostics.cache_miss_reason is not None
    assert unknown.diagnostics.cache_miss_reason.type == "previous_message_not_found"
    plain = await sdk.messages.create(**request)
    assert plain.diagnostics is None


async def test_with_a_key_one_request_goes_through_the_message_batches_api(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = _settings(standin_server)
    [configuration] = _builtin(settings, AgentKind.MEDDPICC)
    result = await check_batch(settings, configuration, wait_s=30)
    assert result.accepted and result.batch, result.line()
    assert (
        re.match(r"msgbatch_\w+: stop_reason=end_turn, \d+ in", result.detail)
        and "json_schema/parallel batch" in result.line()
    )
    assert result.usage.output_tokens > 0
    [sent] = await standin.requests()
    assert "stream" not in sent and sent["output_config"]["format"]["schema"]["title"] == "meddpicc"


async def test_a_batch_request_the_api_refuses_is_reported_with_its_error(
    standin_server: RunningStandin, standin: StandinControl
) -> None:
    settings = _settings(standin_server)
    await standin.behave("meddpicc", stops=["max_tokens"])
    [configuration] = _builtin(settings, AgentKind.MEDDPICC)
    truncated = await check_batch(settings, configuration, wait_s=30)
    assert not truncated.accepted and "OUTPUT_TRUNCATED" in truncated.detail and truncated.usage.output_tokens > 0
    await standin.behave("meddpicc", held=True)
    unfinished = await check_batch(settings, configuration, wait_s=0.2)
    assert unfinished.accepted and unfinished.detail.endswith("not ended within 0.2 s: canceled")
