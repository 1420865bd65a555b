"""One test per rule: the stand-in refuses what the real Messages API refuses, with its status, `error.type`
and message shape. Each rule's source is cited in `dealgraph/standin/rules.py`; requests go through
the real `anthropic` SDK."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from typing import Any

import anthropic
import pytest

from dealgraph.agents.registry import AGENTS, shared_output_schema
from dealgraph.claude.models import MODELS
from dealgraph.standin.output_schema import schema_problems
from dealgraph.standin.usage import PromptCache, Segment
from tests.support import StandinControl

SCHEMA = {
    "type": "object",
    "title": "probe",
    "properties": {"summary": {"type": "string"}},
    "required": ["summary"],
    "additionalProperties": False,
}
TOOL = {"name": "record", "description": "Record it.", "input_schema": SCHEMA}
TRANSCRIPT = "[0 00:01] Ana Ruiz: Our budget is fifty thousand.\n[1 00:09] Ben Kim: Legal reviews every contract."


def request(model: str = "claude-sonnet-5-5", **overrides: Any) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 4096,
        "messages": [{"role": "user", "content": TRANSCRIPT}],
        "output_config": {"effort": "medium", "format": {"type": "json_schema", "schema": SCHEMA}},
    } | overrides


async def refused(sdk: anthropic.AsyncAnthropic, status: int = 400, **body: Any) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await sdk.messages.create(**body)
    error = caught.value
    assert error.status_code == status
    expected_type = {400: "invalid_request_error", 404: "not_found_error"}[status]
    assert error.type == expected_type and isinstance(error.body, dict)
    assert error.body["type"] == "error" and error.body["request_id"].startswith("req_")
    return error


def message_of(error: anthropic.APIStatusError) -> str:
    assert isinstance(error.body, dict)
    return str(error.body["error"]["message"])


async def test_the_agents_request_shape_is_accepted_and_thinks(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(**request())
    assert [block.type for block in message.content] == ["thinking", "text"]
    assert message.content[0].thinking == "" and message.content[0].signature  # display "omitted" by default
    assert message.usage.output_tokens_details is not None and message.usage.output_tokens_details.thinking_tokens > 0


@pytest.mark.parametrize("model", ["claude-sonnet-5-5", "claude-opus-5-5"])
@pytest.mark.parametrize("choice", [{"type": "tool", "name": "record"}, {"type": "any"}])
async def test_forced_tool_choice_is_refused_by_models_that_think(
    sdk: anthropic.AsyncAnthropic, model: str, choice: dict[str, str]
) -> None:
    error = await refused(sdk, **request(model, tools=[TOOL], tool_choice=choice, output_config=anthropic.omit))
    assert message_of(error).startswith("tool_choice: forced tool use")


async def test_forced_tool_choice_needs_thinking_off_where_it_can_be_turned_off(sdk: anthropic.AsyncAnthropic) -> None:
    forced = {"tools": [TOOL], "tool_choice": {"type": "tool", "name": "record"}, "output_config": anthropic.omit}
    error = await refused(sdk, **request("claude-haiku-5-5", **forced))
    assert "when thinking is enabled" in message_of(error)
    message = await sdk.messages.create(**request("claude-haiku-5-5", thinking={"type": "disabled"}, **forced))
    assert [block.type for block in message.content] == ["tool_use"] and message.stop_reason == "tool_use"


async def test_auto_tool_choice_is_accepted_while_thinking(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(
        **request(tools=[TOOL], tool_choice={"type": "auto"}, output_config=anthropic.omit)
    )
    assert [block.type for block in message.content] == ["thinking", "tool_use"]


@pytest.mark.parametrize(
    ("model", "thinking", "message"),
    [
        (
            "claude-sonnet-5-5",
            {"type": "disabled"},
            '"thinking.type.disabled" is not supported for this model. Use "thinking.type.between_tools"',
        ),
        (
            "claude-opus-5-5",
            {"type": "disabled"},
            '"thinking.type.disabled" is not supported for this model. '
            'Use "thinking.type.adaptive" and "output_config.effort" to control thinking behavior.',
        ),
        ("claude-opus-5-5", {"type": "enabled", "budget_tokens": 2048}, '"thinking.type.enabled" is not supported'),
        ("claude-sonnet-5-5", {"type": "enabled", "budget_tokens": 2048}, '"thinking.type.enabled" is not supported'),
        ("claude-haiku-5-5", {"type": "enabled", "budget_tokens": 2048}, '"thinking.type.enabled" is not supported'),
        ("claude-opus-5-5", {"type": "between_tools"}, '"thinking.type.between_tools" is not supported'),
    ],
)
async def test_thinking_types_a_model_refuses(
    sdk: anthropic.AsyncAnthropic, model: str, thinking: dict[str, Any], message: str
) -> None:
    error = await refused(sdk, **request(model, thinking=thinking))
    assert message_of(error).startswith(message)


@pytest.mark.parametrize(
    ("model", "thinking"), [("claude-sonnet-5-5", "between_tools"), ("claude-haiku-5-5", "disabled")]
)
@pytest.mark.parametrize("effort", ["xhigh", "max"])
async def test_thinking_off_is_refused_at_the_highest_efforts(
    sdk: anthropic.AsyncAnthropic, model: str, thinking: str, effort: str
) -> None:
    output = {"effort": effort, "format": {"type": "json_schema", "schema": SCHEMA}}
    error = await refused(sdk, **request(model, thinking={"type": thinking}, output_config=output))
    assert f'"{thinking}" is only available at effort low, medium or high' in message_of(error)
    await sdk.messages.create(**request(model, thinking={"type": thinking}))  # medium is fine


@pytest.mark.parametrize("parameter", [{"temperature": 0.2}, {"top_p": 0.9}, {"top_k": 5}])
@pytest.mark.parametrize("model", ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"])
async def test_sampling_parameters_are_refused(
    sdk: anthropic.AsyncAnthropic, model: str, parameter: dict[str, float]
) -> None:
    # the SDK itself no longer takes them; a raw client could still send them
    error = await refused(sdk, **request(model), extra_body=parameter)
    [name] = parameter
    assert message_of(error).startswith(f"{name}: sampling parameters are not supported")


@pytest.mark.parametrize("model", ["claude-sonnet-5-5", "claude-opus-5-5", "claude-haiku-5-5"])
async def test_assistant_prefill_is_refused(sdk: anthropic.AsyncAnthropic, model: str) -> None:
    messages = [{"role": "user", "content": TRANSCRIPT}, {"role": "assistant", "content": '{"summary": "'}]
    error = await refused(sdk, **request(model, messages=messages))
    assert message_of(error).startswith("messages: assistant message prefill is not supported")


async def test_unknown_model_is_not_found(sdk: anthropic.AsyncAnthropic) -> None:
    error = await refused(sdk, 404, **request("gpt-4o"))
    assert isinstance(error, anthropic.NotFoundError) and message_of(error) == "model: gpt-4o"


async def test_a_claude_model_missing_from_the_table_is_not_supported_yet_rather_than_unknown(
    sdk: anthropic.AsyncAnthropic,
) -> None:
    error = await refused(sdk, 404, **request("claude-sonnet-4-0"))
    assert message_of(error).startswith("model: claude-sonnet-4-0 is not supported by dealgraph yet")
    assert "add it to dealgraph/claude/models.py" in message_of(error)


async def test_request_fields_the_sdk_sends_and_the_api_accepts_are_accepted(sdk: anthropic.AsyncAnthropic) -> None:
    message = await sdk.messages.create(
        **request(
            container="container_011",
            diagnostics={"previous_message_id": None},
            inference_geo="us",
            speed="standard",
            metadata={"user_id": "tenant-7"},
        )
    )
    assert message.stop_reason == "end_turn"


async def test_metadata_takes_user_id_only(sdk: anthropic.AsyncAnthropic) -> None:
    error = await refused(sdk, **request(metadata={"user_id": "u", "tenant": "t"}))  # type: ignore[typeddict-unknown-key]
    assert message_of(error) == "metadata.tenant: Extra inputs are not permitted"


@pytest.mark.parametrize("kind", ["disabled", "between_tools"])
async def test_display_only_on_thinking_types_that_take_it(sdk: anthropic.AsyncAnthropic, kind: str) -> None:
    model = "claude-haiku-5-5" if kind == "disabled" else "claude-sonnet-5-5"
    thinking = {"type": kind, "display": "summarized"}
    error = await refused(sdk, **request(model, thinking=thinking))
    assert message_of(error) == f"thinking.{kind}.display: Extra inputs are not permitted"
    message = await sdk.messages.create(**request(model, thinking={"type": "adaptive", "display": "summarized"}))
    assert message.content[0].type == "thinking" and message.content[0].thinking


async def test_a_prompt_over_the_context_window_is_refused(sdk: anthropic.AsyncAnthropic) -> None:
    window = MODELS["claude-haiku-5-5"].context_window
    huge = "budget " * (window * 4 // 7 + 1000)  # just over the window at 4 characters a token
    error = await refused(sdk, **request("claude-haiku-5-5", messages=[{"role": "user", "content": huge}]))
    assert re.fullmatch(rf"prompt is too long: \d+ tokens > {window} maximum", message_of(error))


async def test_thinking_blocks_are_tied_to_their_conversation(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**request())
    answer = [block.model_dump(exclude_none=True) for block in first.content]
    follow_up = {"role": "user", "content": "Shorter, please."}
    accepted = await sdk.messages.create(
        **request(
            messages=[{"role": "user", "content": TRANSCRIPT}, {"role": "assistant", "content": answer}, follow_up]
        )
    )
    assert accepted.stop_reason == "end_turn"
    elsewhere = [{"role": "user", "content": "Another call."}, {"role": "assistant", "content": answer}, follow_up]
    error = await refused(sdk, **request(messages=elsewhere))
    assert message_of(error) == "messages.1.content.0: Invalid `signature` in `thinking` block"


async def test_thinking_blocks_cannot_carry_cache_control(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**request())
    answer = [block.model_dump(exclude_none=True) for block in first.content]
    answer[0]["cache_control"] = {"type": "ephemeral"}
    turns = [
        {"role": "user", "content": TRANSCRIPT},
        {"role": "assistant", "content": answer},
        {"role": "user", "content": "Go on."},
    ]
    error = await refused(sdk, **request(messages=turns))
    assert message_of(error) == "messages.1.content.0: cache_control cannot be set on thinking blocks"


async def test_longer_cache_ttls_must_come_before_shorter_ones(sdk: anthropic.AsyncAnthropic) -> None:
    def system(first: str, second: str) -> list[dict[str, Any]]:
        return [
            {"type": "text", "text": "Analyse the call.", "cache_control": {"type": "ephemeral", "ttl": first}},
            {"type": "text", "text": TRANSCRIPT, "cache_control": {"type": "ephemeral", "ttl": second}},
        ]

    error = await refused(sdk, **request(system=system("5m", "1h")))
    assert message_of(error).startswith("cache_control: a cache breakpoint with ttl '1h' cannot come after")
    assert (await sdk.messages.create(**request(system=system("1h", "5m")))).stop_reason == "end_turn"


async def test_unknown_top_level_field_is_refused(sdk: anthropic.AsyncAnthropic) -> None:
    error = await refused(sdk, **request(), extra_body={"output_format": {"type": "json_schema", "schema": SCHEMA}})
    assert message_of(error) == "output_format: Extra inputs are not permitted"


async def test_max_tokens_above_the_model_limit(sdk: anthropic.AsyncAnthropic) -> None:
    error = await refused(sdk, **request(max_tokens=128_001, stream=True))
    assert message_of(error) == (
        "max_tokens: 128001 > 128000, which is the maximum allowed number of output tokens for claude-sonnet-5-5"
    )


async def test_more_than_four_cache_breakpoints(sdk: anthropic.AsyncAnthropic) -> None:
    system = [{"type": "text", "text": f"part {n}", "cache_control": {"type": "ephemeral"}} for n in range(5)]
    error = await refused(sdk, **request(system=system))
    assert message_of(error) == "A maximum of 4 blocks with cache_control may be provided. Found 5."


async def test_unknown_effort_is_refused(sdk: anthropic.AsyncAnthropic) -> None:
    output = {"effort": "extreme", "format": {"type": "json_schema", "schema": SCHEMA}}
    error = await refused(sdk, **request(output_config=output))
    assert message_of(error).startswith("output_config.effort:")


@pytest.mark.parametrize(
    ("overrides", "conflict"),
    [
        ({"stream": True, "output_config": anthropic.omit}, "stream"),
        ({}, "output_config.format"),
    ],
)
async def test_prewarm_max_tokens_zero_conflicts(
    sdk: anthropic.AsyncAnthropic, overrides: dict[str, Any], conflict: str
) -> None:
    error = await refused(sdk, **request(max_tokens=0, **overrides))
    assert message_of(error) == f"max_tokens: 0 (cache pre-warming) cannot be combined with {conflict}"


async def test_prewarm_writes_the_cache_and_returns_no_content(sdk: anthropic.AsyncAnthropic) -> None:
    system = [{"type": "text", "text": TRANSCRIPT * 200, "cache_control": {"type": "ephemeral"}}]
    plain = {"system": system, "output_config": anthropic.omit}
    warm = await sdk.messages.create(**request(max_tokens=0, **plain))
    assert warm.content == [] and warm.stop_reason == "max_tokens" and warm.usage.cache_creation_input_tokens > 0
    hit = await sdk.messages.create(**request(**plain))
    assert hit.usage.cache_read_input_tokens == warm.usage.cache_creation_input_tokens


async def test_the_output_format_is_part_of_the_cached_prefix(sdk: anthropic.AsyncAnthropic) -> None:
    """Structured outputs add a system prompt for the format: a request with another format (or none, like a
    max_tokens 0 pre-warm) cannot read the entry."""
    system = [{"type": "text", "text": TRANSCRIPT * 200, "cache_control": {"type": "ephemeral"}}]
    await sdk.messages.create(**request(max_tokens=0, system=system, output_config=anthropic.omit))
    first = await sdk.messages.create(**request(system=system))
    assert first.usage.cache_read_input_tokens == 0 and first.usage.cache_creation_input_tokens > 0
    other = {"effort": "medium", "format": {"type": "json_schema", "schema": {**SCHEMA, "title": "other"}}}
    second = await sdk.messages.create(**request(system=system, output_config=other))
    assert second.usage.cache_read_input_tokens == 0
    again = await sdk.messages.create(**request(system=system))
    assert again.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


async def test_a_cache_entry_is_read_only_by_the_same_model_and_the_exact_prefix(sdk: anthropic.AsyncAnthropic) -> None:
    """Caches are per model, and a hit needs every block up to the breakpoint identical: one block ahead of
    the transcript that differs (as the tenant block does between tenants) makes it a different prefix."""
    transcript = {"type": "text", "text": TRANSCRIPT * 200, "cache_control": {"type": "ephemeral"}}
    tenant_a, tenant_b = ({"type": "text", "text": f"Tenant reference: {who}"} for who in ("a1", "b2"))
    first = await sdk.messages.create(**request(system=[tenant_a, transcript]))
    assert first.usage.cache_creation_input_tokens > 0
    other_model = await sdk.messages.create(**request("claude-opus-5-5", system=[tenant_a, transcript]))
    other_tenant = await sdk.messages.create(**request(system=[tenant_b, transcript]))
    assert other_model.usage.cache_read_input_tokens == other_tenant.usage.cache_read_input_tokens == 0
    same = await sdk.messages.create(**request(system=[tenant_a, transcript]))
    assert same.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens


async def test_structured_outputs_only_where_the_model_supports_them(
    sdk: anthropic.AsyncAnthropic, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy = dataclasses.replace(MODELS["claude-haiku-5-5"], model="claude-legacy-test", structured_outputs=False)
    monkeypatch.setitem(MODELS, legacy.model, legacy)
    error = await refused(sdk, **request(legacy.model))
    assert message_of(error) == "output_config.format: structured outputs are not supported for claude-legacy-test"


async def test_unknown_fields_on_sent_back_blocks_are_refused(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**request())
    turn = [block.model_dump(exclude_none=True) for block in first.content]
    turn[-1] = {**turn[-1], "parsed_output": {"summary": "x"}}
    messages = [*request()["messages"], {"role": "assistant", "content": turn}, {"role": "user", "content": "More."}]
    error = await refused(sdk, **request(messages=messages))
    assert message_of(error).endswith("text.parsed_output: Extra inputs are not permitted")


async def test_modified_thinking_block_is_refused(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**request())
    turn = [block.model_dump(exclude_none=True) for block in first.content]
    follow_up = {"role": "user", "content": "Add more detail."}
    intact = await sdk.messages.create(
        **request(messages=[*request()["messages"], {"role": "assistant", "content": turn}, follow_up])
    )
    assert intact.stop_reason == "end_turn"
    turn[0] = {**turn[0], "thinking": "I was edited."}
    error = await refused(
        sdk, **request(messages=[*request()["messages"], {"role": "assistant", "content": turn}, follow_up])
    )
    assert message_of(error) == "messages.1.content.0: Invalid `signature` in `thinking` block"


async def test_thinking_blocks_are_tied_to_their_model(sdk: anthropic.AsyncAnthropic) -> None:
    first = await sdk.messages.create(**request("claude-haiku-5-5"))
    turn = [block.model_dump(exclude_none=True) for block in first.content]
    messages = [*request()["messages"], {"role": "assistant", "content": turn}, {"role": "user", "content": "More."}]
    error = await refused(sdk, **request("claude-sonnet-5-5", messages=messages))
    assert "Invalid `signature`" in message_of(error)


async def test_count_tokens_follows_the_same_rules(sdk: anthropic.AsyncAnthropic) -> None:
    with pytest.raises(anthropic.NotFoundError):
        await sdk.messages.count_tokens(model="claude-nope", messages=request()["messages"])
    with pytest.raises(anthropic.BadRequestError, match="max_tokens: Extra inputs are not permitted"):
        await sdk.messages.count_tokens(
            model="claude-sonnet-5-5", messages=request()["messages"], extra_body={"max_tokens": 1}
        )
    counted = await sdk.messages.count_tokens(
        model="claude-sonnet-5-5", messages=request()["messages"], output_config=request()["output_config"]
    )
    assert counted.input_tokens > 0


async def test_usage_is_reported_as_the_api_reports_it(sdk: anthropic.AsyncAnthropic) -> None:
    system = [{"type": "text", "text": TRANSCRIPT * 200, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    async with sdk.messages.stream(**request(system=system)) as stream:
        events = [event async for event in stream]
        final = await stream.get_final_message()
        headers = stream.response.headers
    start = next(event for event in events if event.type == "message_start")
    assert start.message.usage.cache_creation_input_tokens == final.usage.cache_creation_input_tokens > 0
    assert final.usage.cache_creation is not None
    assert final.usage.cache_creation.ephemeral_1h_input_tokens == final.usage.cache_creation_input_tokens
    assert final.usage.cache_creation.ephemeral_5m_input_tokens == 0
    delta = next(event for event in events if event.type == "message_delta")
    assert delta.usage.output_tokens == final.usage.output_tokens  # cumulative, final in message_delta
    assert delta.usage.output_tokens_details is not None
    assert [e.delta.type for e in events if e.type == "content_block_delta" and e.index == 0] == ["signature_delta"]
    for kind in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert int(headers[f"anthropic-ratelimit-{kind}-remaining"]) <= int(
            headers[f"anthropic-ratelimit-{kind}-limit"]
        )
        assert headers[f"anthropic-ratelimit-{kind}-reset"].endswith("Z")


async def test_cache_entry_is_readable_only_once_its_writer_started(
    own_standin: StandinControl, sdk: anthropic.AsyncAnthropic
) -> None:
    """Concurrent requests each write; a request after the writer's response began reads. A prefill of about
    a second keeps every concurrent request inside the window however loaded the machine is."""
    behaviour = {"latency_s": 0.05, "prefill_s_per_1k_tokens": 1.0}
    await own_standin.behave("probe", **behaviour)
    system = [{"type": "text", "text": TRANSCRIPT * 40, "cache_control": {"type": "ephemeral"}}]
    together = await asyncio.gather(*(sdk.messages.create(**request(system=system)) for _ in range(3)))
    assert all(m.usage.cache_creation_input_tokens > 0 and m.usage.cache_read_input_tokens == 0 for m in together)
    later = await sdk.messages.create(**request(system=system))
    assert later.usage.cache_read_input_tokens > 0 and later.usage.cache_creation_input_tokens == 0


async def test_prompts_below_the_minimum_cacheable_length_are_not_cached(sdk: anthropic.AsyncAnthropic) -> None:
    system = [{"type": "text", "text": "A short playbook.", "cache_control": {"type": "ephemeral"}}]
    first = await sdk.messages.create(**request(system=system))
    second = await sdk.messages.create(**request(system=system))
    assert first.usage.cache_creation_input_tokens == second.usage.cache_read_input_tokens == 0


def test_cache_entries_live_for_their_ttl_and_renew() -> None:
    """5-minute entries expire unless read (a read refreshes them); an expired prefix is written afresh."""
    now = [0.0]
    cache = PromptCache(clock=lambda: now[0])
    segments = [Segment("transcript " * 400, 4000, "5m"), Segment("question", 8, None)]

    def bill() -> tuple[int, int]:
        usage, write = cache.plan(segments, min_tokens=512, model="claude-haiku-5-5")
        cache.publish(write)
        return usage.cache_creation_input_tokens, usage.cache_read_input_tokens

    written, _ = bill()
    now[0] = 299.0
    assert bill() == (0, written)  # read just before expiry: refreshed for another 5 minutes
    now[0] = 598.0
    assert bill() == (0, written)
    now[0] = 598.0 + 301.0
    assert bill() == (written, 0)  # expired: written again
    now[0] += 1.0
    assert bill() == (0, written)  # and readable again


@pytest.mark.parametrize(("text", "problem"), [("", "be non-empty"), (" \n\t", "contain non-whitespace text")])
async def test_blank_text_blocks_are_refused(sdk: anthropic.AsyncAnthropic, text: str, problem: str) -> None:
    turns = [{"role": "user", "content": [{"type": "text", "text": TRANSCRIPT}, {"type": "text", "text": text}]}]
    error = await refused(sdk, **request(messages=turns))
    assert message_of(error) == f"messages: text content blocks must {problem}"
    error = await refused(sdk, **request(system=[{"type": "text", "text": text}]))
    assert message_of(error) == f"system: text content blocks must {problem}"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"minimum": 0}, "'minimum' is not supported in structured outputs"),
        ({"maxLength": 80}, "'maxLength' is not supported in structured outputs"),
        ({"format": "credit-card"}, "format 'credit-card' is not supported"),
        ({"type": "date"}, "type 'date' is not supported"),
        ({"$ref": "https://example.com/summary.json"}, "external references are not supported"),
    ],
)
async def test_output_schemas_outside_the_structured_outputs_subset_are_refused(
    sdk: anthropic.AsyncAnthropic, change: dict[str, Any], problem: str
) -> None:
    schema = {**SCHEMA, "properties": {"summary": {"type": "string", **change}}}
    fmt = {"type": "json_schema", "schema": schema}
    error = await refused(sdk, **request(output_config={"effort": "medium", "format": fmt}))
    assert message_of(error).startswith("output_config.format.schema.properties.summary: ")
    assert problem in message_of(error)


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({**SCHEMA, "additionalProperties": True}, "'additionalProperties' must be explicitly set to false"),
        (
            {**SCHEMA, "properties": {"items": {"type": "array", "items": {"type": "string"}, "minItems": 2}}},
            "'minItems' values other than 0 or 1 are not supported",
        ),
        (
            {
                **SCHEMA,
                "properties": {"summary": {"$ref": "#/$defs/node"}},
                "$defs": {
                    "node": {
                        "type": "object",
                        "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}},
                        "required": ["children"],
                        "additionalProperties": False,
                    }
                },
            },
            "output_config.format.schema.$defs.node: recursive schemas are not supported",
        ),
    ],
)
async def test_objects_arrays_and_recursion_outside_the_subset_are_refused(
    sdk: anthropic.AsyncAnthropic, schema: dict[str, Any], problem: str
) -> None:
    fmt = {"type": "json_schema", "schema": schema}
    error = await refused(sdk, **request(output_config={"effort": "medium", "format": fmt}))
    assert problem in message_of(error)


def test_every_schema_dealgraph_sends_is_in_the_subset() -> None:
    schemas = [agent.output_schema for agent in AGENTS.values()] + [shared_output_schema()]
    assert [list(schema_problems(schema)) for schema in schemas] == [[]] * len(schemas)


async def test_token_counts_follow_the_newer_tokenizer(sdk: anthropic.AsyncAnthropic) -> None:
    """About 30 % more tokens than the four characters a token of earlier models (token-counting docs)."""
    text = "We will decide on the pilot budget next week, after legal has reviewed the contract. " * 40
    counted = await sdk.messages.count_tokens(model="claude-sonnet-5-5", messages=[{"role": "user", "content": text}])
    assert counted.input_tokens == math.ceil(len(text) * 1.3 / 4) > len(text) // 4
