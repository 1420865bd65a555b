"""What proposed CRM updates cost per analysis: the meeting-intelligence answer with `crm_updates`, side by side
with the same request without it, and with the alternative of a fifth agent asking for the updates alone.

No server and no model: the figures are the requests dealgraph builds (`dealgraph.prompts.request`), counted with
the estimate the client and the stand-in share (`dealgraph.claude.tokens`, about 1.3 x characters / 4), and the
stand-in's schema-valid answer for the output. Input tokens are exact up to that estimate; output tokens depend
on what Claude writes, so the stand-in's answer is only an indication, and the schema's length limits (an email
body of at most 5,000 characters) bound them.

Run from the repository root: `.venv/bin/python -m bench.proposal_cost [--utterances N]`.
"""

from __future__ import annotations

import argparse
import json
import platform
from datetime import UTC, date, datetime
from typing import Any

from pydantic import create_model

from bench.cache_sharing import long_call
from dealgraph.agents.kinds import AgentKind
from dealgraph.agents.outputs import CrmUpdates, MeetingOutput
from dealgraph.agents.registry import AGENTS, SYSTEM_PROMPT, AgentDefinition, instruction_text
from dealgraph.claude.tokens import estimate_tokens, prompt_chars
from dealgraph.prompts.request import TranscriptForPrompt, build_request
from dealgraph.prompts.templates import AccountInfo, DealInfo, PromptContext, render
from dealgraph.standin.synth import synthesize
from dealgraph.standin.transcript import Utterance as StandinUtterance
from dealgraph.transcripts.formats import parse_transcript
from harness.transcripts import DISCOVERY_CALL

_SECTION = "- `crm_updates`:"


def without_crm_updates(instructions: str) -> str:
    """The meeting-intelligence instructions as they were before `crm_updates`: its field entry left out."""
    start = instructions.index(_SECTION)
    return instructions[:start] + instructions[instructions.index("\n", start) + 1 :]


def request_tokens(agent: AgentDefinition, instructions: str, call: TranscriptForPrompt, context: PromptContext) -> int:
    rendered = render(SYSTEM_PROMPT, f"{instructions}\n\nAnswer with one JSON object in the requested format.", context)
    request = build_request(
        agent, call, rendered, tenant_key="0" * 32, model="claude-sonnet-5-5", max_tokens=16000, effort="medium"
    )
    return estimate_tokens(prompt_chars(request))


def answer_tokens(agent: AgentDefinition, call: TranscriptForPrompt) -> tuple[int, Any]:
    utterances = [StandinUtterance(u.index, u.speaker, u.text) for u in call.utterances]
    answer = synthesize(agent.output_schema, utterances, name=agent.kind.value)
    return estimate_tokens(len(json.dumps(answer))), answer


def measure(content: str) -> dict[str, int]:
    utterances = parse_transcript(content).utterances
    call = TranscriptForPrompt.of("Discovery", datetime(2026, 11, 2, tzinfo=UTC), utterances)
    context = PromptContext.for_call(
        utterances,
        title="Discovery",
        occurred_on=date(2026, 11, 2),
        deal=DealInfo(name="Northwind platform", stage="discovery", amount=None, currency="USD", close_date=None),
        account=AccountInfo(name="Northwind", domain=None),
        agent=AgentKind.MEETING_INTELLIGENCE.value,
    )
    meeting = AGENTS[AgentKind.MEETING_INTELLIGENCE]
    fields: dict[str, Any] = {
        name: (info.annotation, info) for name, info in MeetingOutput.model_fields.items() if name != "crm_updates"
    }
    before = AgentDefinition(meeting.kind, create_model("MeetingOutput", **fields), meeting.description)
    alone = AgentDefinition(meeting.kind, CrmUpdates, "Record the CRM updates this call supports.")
    instructions = instruction_text(meeting.kind.value)
    with_updates, full_answer = answer_tokens(meeting, call)
    without_updates, _ = answer_tokens(before, call)
    updates_only = estimate_tokens(len(json.dumps({"crm_updates": full_answer["crm_updates"]})))
    section = instructions[instructions.index(_SECTION) : instructions.index("\n", instructions.index(_SECTION))]
    return {
        "utterances": len(utterances),
        "input_before": request_tokens(before, without_crm_updates(instructions), call, context),
        "input_after": request_tokens(meeting, instructions, call, context),
        "output_crm_updates": updates_only,
        "output_whole_answer": with_updates,
        "output_before": without_updates,
        "fifth_agent_input": request_tokens(alone, section, call, context),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=600, help="length of the long call")
    args = parser.parse_args()
    print(f"machine: {platform.platform()}, python {platform.python_version()}")
    print(
        "| call | utterances | input before | input with crm_updates | added input | crm_updates output "
        "(stand-in) | a fifth agent's input |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, content in (("discovery call", DISCOVERY_CALL), ("long call", long_call(args.utterances))):
        m = measure(content)
        print(
            f"| {name} | {m['utterances']} | {m['input_before']:,} | {m['input_after']:,} | "
            f"{m['input_after'] - m['input_before']:,} | {m['output_crm_updates']:,} | {m['fifth_agent_input']:,} |"
        )


if __name__ == "__main__":
    main()
