"""A call that cannot fit the model's context window fails at once, unbilled, and says why; one that is
close is decided by count_tokens; the rest go out without asking."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest

from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.registry import AGENTS
from dealgraph.claude.client import LlmClient, StructuredRequest
from dealgraph.claude.models import MODELS
from dealgraph.claude.tokens import CHARS_PER_TOKEN, estimate_prompt_tokens
from dealgraph.config import Settings
from dealgraph.runs.context_fit import ESTIMATE_ERROR, overflow
from dealgraph.standin import RunningStandin
from tests.analysis_support import AGENTS as AGENT_NAMES
from tests.analysis_support import start, wait_until_finished
from tests.factories import create_deal_with_account, create_transcript
from tests.support import GraphQLClient, StandinControl, TenantFactory, asgi_client, make_settings, running_app

MODEL = "claude-sonnet-5-5"
WINDOW = MODELS[MODEL].context_window
MAX_TOKENS = 16_000
AGENT = AGENTS[AgentKind.MEDDPICC]


def request_of(prompt_tokens: int) -> StructuredRequest:
    """A request the local estimate puts at about `prompt_tokens` input tokens."""
    empty = StructuredRequest(MODEL, MAX_TOKENS, "high", [], [{"role": "user", "content": "Go."}], AGENT.output_schema)
    filler = "word " * round((prompt_tokens - estimate_prompt_tokens(empty)) * CHARS_PER_TOKEN / 5)
    return StructuredRequest(
        MODEL, MAX_TOKENS, "high", [{"type": "text", "text": filler}], empty.messages, AGENT.output_schema
    )


@pytest.fixture
async def llm(standin_server: RunningStandin, standin: StandinControl) -> AsyncIterator[LlmClient]:
    client = LlmClient(Settings(anthropic_api_key="test-key", anthropic_base_url=standin_server.base_url))
    yield client
    await client.close()


@pytest.mark.parametrize(
    ("share_of_room", "counted", "fits"),
    [
        (0.5, False, True),  # clear by the margin: sent without asking
        (0.95, True, True),  # close: count_tokens says it fits
        (1.02, True, False),  # close: count_tokens says it does not
        (1.5, False, False),  # far over: refused without asking
    ],
)
async def test_the_estimate_decides_unless_it_is_close_then_count_tokens_does(
    llm: LlmClient, standin: StandinControl, share_of_room: float, counted: bool, fits: bool
) -> None:
    request = request_of(round((WINDOW - MAX_TOKENS) * share_of_room))
    assert (1 - ESTIMATE_ERROR < share_of_room < 1 + ESTIMATE_ERROR) == counted
    why = await overflow(llm, request)
    assert await standin.token_counts(AGENT.kind.value) == int(counted)
    if fits:
        assert why is None
    else:
        how = "counted" if counted else "estimated"
        assert why is not None and re.fullmatch(
            rf"the call does not fit {MODEL}'s context window: (about )?[\d,]+ input tokens \({how}\) plus "
            rf"max_tokens 16,000 exceed its 1,000,000 tokens; shorten the transcript or lower the prompt "
            r"version's maxTokens",
            why,
        ), why


LONG_CALL = "".join(f"R{n % 2}: {'go ' * 100}\n" for n in range(14_000))
"""4.3 MB in 14,000 utterances: about 1.4 M tokens, 40 % over the window. Few long utterances, not many short
ones: what is too long is the text, and each utterance is parsed, stored, read and rendered four times."""


async def test_a_call_too_long_for_the_window_fails_every_run_at_once_unbilled(
    database_url: str, standin_server: RunningStandin, standin: StandinControl
) -> None:
    big = 8 * 1024 * 1024
    settings = make_settings(database_url, standin_server.base_url, max_transcript_bytes=big, max_body_bytes=big)
    async with running_app(settings) as app, asgi_client(app) as http:
        gql, tenants = GraphQLClient(http), TenantFactory(app.state.database)
        who = await tenants.create()
        deal = await create_deal_with_account(gql, who, "Northwind", name="Northwind platform")
        transcript = await create_transcript(gql, who, deal["id"], title="Marathon", content=LONG_CALL)
        analysis = await start(gql, who, transcript["id"], force=True)
        finished = await wait_until_finished(gql, who, analysis["id"], timeout=150)
    assert finished["status"] == "FAILED", finished
    assert finished["totals"] == {
        "succeeded": 0,
        "failed": 4,
        "cancelled": 0,
        "pending": 0,
        "inputTokens": 0,
        "outputTokens": 0,
        "cacheReadTokens": 0,
        "cacheWriteTokens": 0,
    }
    errors = [run["error"] for run in finished["agentRuns"]]
    assert {error["code"] for error in errors} == {"CONTEXT_TOO_LONG"} and len(errors) == 4
    assert all(f"{MODEL}'s context window" in error["message"] and "1,000,000" in error["message"] for error in errors)
    for agent in AGENT_NAMES:  # nothing sent, not even a count: the estimate alone was decisive
        assert await standin.statuses(agent) == [] and await standin.token_counts(agent) == 0
