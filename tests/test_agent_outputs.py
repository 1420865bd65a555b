"""Agent output models: tool schemas the stand-in can answer, generic evidence verification, talk time,
and a throwaway GraphQL mapping proving the models fit strawberry's pydantic integration."""

from __future__ import annotations

import enum
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar, get_args

import pytest
import strawberry
from pydantic import BaseModel
from strawberry.experimental.pydantic import type as pydantic_type

import dealgraph.agents
from dealgraph.agents.evidence import EvidenceLocator
from dealgraph.agents.outputs import (
    MEDDPICC_ELEMENTS,
    ActionItem,
    ActionItemsOutput,
    Evidence,
    MeddpiccElement,
    MeddpiccOutput,
    MeddpiccStatus,
    MeetingOutput,
    Priority,
    Sentiment,
    StakeholdersOutput,
    compute_talk_time,
    count_evidence,
    verify_evidence,
)
from dealgraph.standin import extract_utterances, synthesize
from dealgraph.transcripts.formats import Utterance, parse_transcript
from dealgraph.transcripts.preprocess import render_for_prompt

CALL = tuple(
    Utterance(index, speaker, start, end, text)
    for index, (speaker, start, end, text) in enumerate(
        [
            ("Alice Chen", 0.0, 9.0, "Thanks for making time, Raj. Um, how do you forecast today?"),
            ("Raj Patel", 9.0, 21.0, "Mostly spreadsheets. Every Friday my managers chase reps."),
            ("Maria Lopez", 21.0, 30.0, "Nobody trusts the close dates, so the board deck is late."),
            ("Alice Chen", 30.0, 40.0, "Our deal inspection view flags stale close dates automatically."),
            ("Raj Patel", 40.0, 52.0, "The price is about thirty percent above what we budgeted."),
            ("Maria Lopez", 52.0, 60.0, "We are also looking at Clari, so we need a clear difference."),
            ("Alice Chen", 60.0, 70.0, "I can set up a pilot with two of your teams."),
            ("Raj Patel", 70.0, 85.0, "A pilot works. Send me a proposal by March 14 and I will loop in our CFO."),
            ("Alice Chen", 85.0, 90.0, "Will do. I'll send the proposal tomorrow."),
        ]
    )
)
SPEAKERS = {u.speaker for u in CALL}
OUTPUTS: dict[str, type[BaseModel]] = {
    "meddpicc": MeddpiccOutput,
    "action_items": ActionItemsOutput,
    "stakeholders": StakeholdersOutput,
    "meeting_intelligence": MeetingOutput,
}
HIDDEN_FIELDS = {"verified", "match_score", "speaker", "start", "end", "talk_time"}
OutputT = TypeVar("OutputT", bound=BaseModel)


@pytest.fixture(scope="module")
def locator() -> EvidenceLocator:
    return EvidenceLocator(CALL)


def _synthesized(model: type[OutputT], name: str) -> OutputT:
    """What the stand-in answers: it only sees the prompt, so feed it the rendered transcript."""
    prompt_lines = extract_utterances([render_for_prompt(CALL)])
    return model.model_validate(synthesize(model.model_json_schema(), prompt_lines, name=name))


def _property_names(schema: Any) -> Iterator[str]:
    if isinstance(schema, dict):
        yield from schema.get("properties", {})
        for value in schema.values():
            yield from _property_names(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from _property_names(value)


def _evidence(quote: str, hint: int | None) -> Evidence:
    return Evidence(quote=quote, utterance_index=hint)


def _element(status: MeddpiccStatus, *evidence: Evidence) -> MeddpiccElement:
    return MeddpiccElement(status=status, summary="s", confidence=0.8, evidence=list(evidence))


def _meddpicc(**elements: MeddpiccElement) -> MeddpiccOutput:
    missing = _element(MeddpiccStatus.MISSING)
    return MeddpiccOutput.model_validate({name: elements.get(name, missing) for name in MEDDPICC_ELEMENTS})


@pytest.mark.parametrize(("name", "model"), OUTPUTS.items(), ids=OUTPUTS)
def test_standin_output_validates_and_its_quotes_verify(
    name: str, model: type[BaseModel], locator: EvidenceLocator
) -> None:
    verified, total = count_evidence(verify_evidence(_synthesized(model, name), locator))
    assert total > 0
    assert verified == total


def test_synthesized_people_are_real_speakers() -> None:
    actions = _synthesized(ActionItemsOutput, "action_items")
    stakeholders = _synthesized(StakeholdersOutput, "stakeholders")
    assert {item.owner for item in actions.items} <= SPEAKERS | {None}
    assert {person.name for person in stakeholders.stakeholders} <= SPEAKERS


@pytest.mark.parametrize("model", OUTPUTS.values(), ids=OUTPUTS)
def test_schema_hides_server_side_fields(model: type[BaseModel]) -> None:
    schema = model.model_json_schema()
    assert not HIDDEN_FIELDS & set(_property_names(schema))
    assert "TalkTime" not in schema.get("$defs", {})


def test_evidence_schema_asks_only_for_quote_and_index() -> None:
    schema = Evidence.model_json_schema()
    assert set(schema["properties"]) == set(schema["required"]) == {"quote", "utterance_index"}


@pytest.mark.parametrize("name", ["system", *OUTPUTS])
def test_instructions_exist_for_every_agent(name: str) -> None:
    text = (Path(dealgraph.agents.__file__).parent / "instructions" / f"{name}.md").read_text()
    assert 15 <= len(text.splitlines()) <= 40


def test_meddpicc_elements_in_canonical_order() -> None:
    assert MEDDPICC_ELEMENTS == (
        "metrics",
        "economic_buyer",
        "decision_criteria",
        "decision_process",
        "paper_process",
        "identify_pain",
        "champion",
        "competition",
    )


def test_verify_evidence_across_meddpicc_elements(locator: EvidenceLocator) -> None:
    output = _meddpicc(
        identify_pain=_element(
            MeddpiccStatus.IDENTIFIED,
            _evidence("Nobody trusts the close dates", 7),  # wrong hint: the quote decides
            _evidence("We lose two deals a quarter to bad data", 2),
        ),
        competition=_element(MeddpiccStatus.PARTIAL, _evidence("We are also looking at Clari", None)),
    )

    checked = verify_evidence(output, locator)

    pain_true, pain_made_up = checked.identify_pain.evidence
    assert (pain_true.verified, pain_true.utterance_index, pain_true.speaker) == (True, 2, "Maria Lopez")
    assert (pain_true.start, pain_true.end, pain_true.match_score) == (21.0, 30.0, 1.0)
    assert pain_made_up.quote == "We lose two deals a quarter to bad data"
    assert (pain_made_up.verified, pain_made_up.utterance_index, pain_made_up.speaker) == (False, None, None)
    assert (pain_made_up.start, pain_made_up.end) == (None, None)
    competition = checked.competition.evidence[0]
    assert (competition.verified, competition.utterance_index, competition.start) == (True, 5, 52.0)
    assert count_evidence(checked) == (2, 3)
    assert count_evidence(output) == (0, 3), "the input is left untouched"


def test_verify_evidence_across_action_items(locator: EvidenceLocator) -> None:
    output = ActionItemsOutput(
        items=[
            ActionItem(
                description=description,
                owner=owner,
                due_date=due,
                priority=Priority.HIGH,
                confidence=0.9,
                evidence=[_evidence(quote, hint)],
            )
            for description, owner, due, quote, hint in [
                ("Send Raj a proposal", "Alice Chen", date(2025, 3, 14), "Send me a proposal by March 14", 7),
                ("Set up a pilot", "Alice Chen", None, "I can set up a pilot with two of your teams.", 0),
                ("Book the CFO", "Raj Patel", None, "Dana already booked our CFO for Tuesday", 7),
            ]
        ]
    )

    checked = verify_evidence(output, locator)

    found = [(e.verified, e.utterance_index, e.speaker, e.start) for item in checked.items for e in item.evidence]
    assert found == [(True, 7, "Raj Patel", 70.0), (True, 6, "Alice Chen", 60.0), (False, None, None, None)]
    assert count_evidence(checked) == (2, 3)


def test_verification_overwrites_what_the_model_claimed_in_hidden_fields(locator: EvidenceLocator) -> None:
    forged = {"quote": "We signed yesterday", "utterance_index": 1, "verified": True, "speaker": "Raj Patel"}
    output = _meddpicc(champion=_element(MeddpiccStatus.PARTIAL, Evidence.model_validate(forged)))
    checked = verify_evidence(output, locator).champion.evidence[0]
    assert (checked.verified, checked.utterance_index, checked.speaker) == (False, None, None)


def test_talk_time_from_timings() -> None:
    talk = compute_talk_time(CALL)
    assert [(t.speaker, t.seconds, t.utterances) for t in talk] == [
        ("Raj Patel", 39.0, 3),
        ("Alice Chen", 34.0, 4),
        ("Maria Lopez", 17.0, 2),
    ]
    assert [t.share for t in talk] == pytest.approx([39 / 90, 34 / 90, 17 / 90])


@pytest.mark.parametrize(
    "text",
    [
        "Alice: one two three\nBob: one\nAlice: one two",
        "[00:01] Alice: one two three\n[00:05] Bob: one\n[00:09] Alice: one two",  # start times only
    ],
    ids=["untimed", "starts-only"],
)
def test_talk_time_falls_back_to_word_counts(text: str) -> None:
    talk = compute_talk_time(parse_transcript(text).utterances)
    assert [(t.speaker, t.seconds, t.share, t.utterances) for t in talk] == [
        ("Alice", pytest.approx(2.0), pytest.approx(5 / 6), 2),  # 150 words a minute
        ("Bob", pytest.approx(0.4), pytest.approx(1 / 6), 1),
    ]


def test_talk_time_of_empty_transcript() -> None:
    assert compute_talk_time([]) == []


def _nested_models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """Post-order, because strawberry needs a nested model mapped before the model that contains it."""
    for field in model.model_fields.values():
        for leaf in _leaf_types(field.annotation):
            if isinstance(leaf, type) and issubclass(leaf, BaseModel):
                yield from _nested_models(leaf)
    yield model


def _leaf_types(annotation: Any) -> Iterator[Any]:
    args = get_args(annotation)
    if not args:
        yield annotation
    for arg in args:
        yield from _leaf_types(arg)


def _enums(models: list[type[BaseModel]]) -> list[type[enum.Enum]]:
    leaves = (leaf for m in models for f in m.model_fields.values() for leaf in _leaf_types(f.annotation))
    return list(dict.fromkeys(leaf for leaf in leaves if isinstance(leaf, type) and issubclass(leaf, enum.Enum)))


MODELS = list(dict.fromkeys(nested for output in OUTPUTS.values() for nested in _nested_models(output)))
ENUMS = _enums(MODELS)
_REGISTRATIONS = ("_strawberry_type", "_strawberry_input_type", "__strawberry_definition__")


@pytest.fixture
def scratch_registrations() -> Iterator[None]:
    """strawberry records a mapping on the mapped class itself; undo ours so the app's mapping stays in charge."""
    saved = {cls: {a: vars(cls)[a] for a in _REGISTRATIONS if a in vars(cls)} for cls in [*MODELS, *ENUMS]}
    yield
    for cls, attributes in saved.items():
        for attribute in _REGISTRATIONS:
            if attribute in attributes:
                setattr(cls, attribute, attributes[attribute])
            elif attribute in vars(cls):
                delattr(cls, attribute)


@pytest.mark.usefixtures("scratch_registrations")
def test_every_output_model_maps_to_graphql(locator: EvidenceLocator) -> None:
    for enum_cls in ENUMS:
        strawberry.enum(enum_cls)
    types = {model: pydantic_type(model=model, all_fields=True)(type(model.__name__, (), {})) for model in MODELS}
    query = strawberry.type(type("Query", (), {"__annotations__": {name: types[m] for name, m in OUTPUTS.items()}}))
    schema = strawberry.Schema(query=query)

    outputs = {name: verify_evidence(_synthesized(model, name), locator) for name, model in OUTPUTS.items()}
    outputs["meeting_intelligence"] = outputs["meeting_intelligence"].model_copy(
        update={"talk_time": compute_talk_time(CALL)}
    )
    root = SimpleNamespace(**{name: types[type(output)].from_pydantic(output) for name, output in outputs.items()})
    result = schema.execute_sync(
        """{
          meddpicc { champion { status confidence evidence { quote utteranceIndex verified speaker start end } } }
          actionItems { items { owner dueDate priority } }
          stakeholders { stakeholders { name companySide committeeRole influence } }
          meetingIntelligence { sentiment talkTime { speaker seconds share utterances } risks { severity } }
        }""",
        root_value=root,
    )

    assert result.errors is None
    assert result.data is not None
    evidence = result.data["meddpicc"]["champion"]["evidence"]
    assert evidence and all(quote["verified"] and quote["speaker"] in SPEAKERS for quote in evidence)
    meeting_data = result.data["meetingIntelligence"]
    assert meeting_data["sentiment"] in Sentiment.__members__
    assert meeting_data["talkTime"][0] == {"speaker": "Raj Patel", "seconds": 39.0, "share": 39 / 90, "utterances": 3}
