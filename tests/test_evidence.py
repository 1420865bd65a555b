import random
import time

import pytest

from dealgraph.agents.evidence import EvidenceLocator, EvidenceMatch, locate_quote
from dealgraph.transcripts.formats import Utterance, parse_transcript
from dealgraph.transcripts.preprocess import render_for_prompt

CALL = parse_transcript(
    """\
[00:00:05] Dana: Um, so what does your, you know, current process look like today?
[00:00:12] Marcus Lee: Honestly we we track everything in spreadsheets and it's a mess.
[00:00:20] Marcus Lee: Our budget is around $40,000 for this fiscal year.
[00:00:31] Dana: Got it. And who signs off on a purchase like this?
[00:00:35] Marcus Lee: Our CFO, Maria Chen. She needs to see ROI before Q3 planning.
[00:00:44] Dana: Makes sense. I'll put together a business case.
[00:00:50] Marcus Lee: Yes.
[00:00:55] Dana: Yes.
[00:01:02] Marcus Lee: We will not sign before legal reviews the data processing agreement.
"""
).utterances


@pytest.fixture(scope="module")
def locator() -> EvidenceLocator:
    return EvidenceLocator(CALL)


def test_exact_quote(locator: EvidenceLocator) -> None:
    assert locator.locate("we track everything in spreadsheets") == EvidenceMatch(
        quote="we track everything in spreadsheets",
        verified=True,
        score=1.0,
        utterance_index=1,
        speaker="Marcus Lee",
        start=12.0,
        end=None,
    )


def test_punctuation_case_and_unicode_do_not_matter(locator: EvidenceLocator) -> None:
    match = locator.locate("“OUR CFO — Maria Chen! She needs to see ROI”")
    assert (match.verified, match.score, match.utterance_index) == (True, 1.0, 4)


def test_quote_copied_from_cleaned_prompt_matches_exactly(locator: EvidenceLocator) -> None:
    prompt = render_for_prompt(CALL)
    assert "[0 00:05] Dana: so what does your, current process look like today?" in prompt
    assert "[1 00:12] Marcus Lee: Honestly we track everything in spreadsheets" in prompt
    for quote in ("so what does your, current process look like", "Honestly we track everything"):
        match = locator.locate(quote)
        assert (match.verified, match.score) == (True, 1.0)


def test_quote_with_fillers_matches_cleaned_transcript(locator: EvidenceLocator) -> None:
    match = locator.locate("Honestly, um, we we track everything")
    assert (match.verified, match.score, match.utterance_index) == (True, 1.0, 1)


def test_partial_words_do_not_count_as_exact(locator: EvidenceLocator) -> None:
    assert locator.locate("track every").score < 1.0


def test_fuzzy_quote_with_typos_and_a_changed_word(locator: EvidenceLocator) -> None:
    match = locator.locate("she needs to see the ROI befor Q3 planing")
    assert match.verified is True
    assert 0.85 <= match.score < 1.0
    assert (match.utterance_index, match.speaker, match.start) == (4, "Marcus Lee", 35.0)


def test_fuzzy_quote_with_dropped_word(locator: EvidenceLocator) -> None:
    match = locator.locate("our budget is around $40,000 for this year")
    assert (match.verified, match.utterance_index) == (True, 2)
    assert match.score == pytest.approx(0.926, abs=0.01)


def test_number_format_differences_are_normalized(locator: EvidenceLocator) -> None:
    assert locator.locate("budget is around 40000").score == 1.0


def test_quote_spanning_a_speaker_turn(locator: EvidenceLocator) -> None:
    match = locator.locate("it's a mess. Our budget is around $40,000")
    assert match.verified is True
    assert match.score == 1.0
    assert (match.utterance_index, match.speaker) == (2, "Marcus Lee")  # most of the quote
    assert (match.start, match.end) == (12.0, None)


def test_fuzzy_quote_spanning_a_speaker_turn() -> None:
    utterances = [
        Utterance(0, "Dana", 1.0, 4.0, "Can we get the pilot started next week?"),
        Utterance(1, "Marcus", 4.0, 6.5, "Yes, I'll loop in our IT admin today."),
        Utterance(2, "Dana", 6.5, 9.0, "Perfect, thanks."),
    ]
    match = locate_quote("pilot started next week? Yes, I will loop in our IT admin", utterances)
    assert match.verified is True
    assert 0.85 <= match.score < 1.0
    assert (match.start, match.end) == (1.0, 6.5)


@pytest.mark.parametrize(
    "quote",
    [
        "Our budget is around $50,000 for this fiscal year.",  # changed number
        "We will sign before legal reviews the data processing agreement.",  # dropped negation
        "The CFO already approved the budget for this project.",  # invented
        "um, you know",  # nothing but fillers
    ],
)
def test_unverified(locator: EvidenceLocator, quote: str) -> None:
    match = locator.locate(quote)
    assert match == EvidenceMatch(quote, False, match.score, None, None, None, None)
    assert match.score < 0.85


def test_speaker_prefixed_quote(locator: EvidenceLocator) -> None:
    match = locator.locate("Marcus Lee: We will not sign before legal reviews")
    assert (match.verified, match.score, match.utterance_index, match.speaker) == (True, 1.0, 8, "Marcus Lee")
    assert match.quote == "Marcus Lee: We will not sign before legal reviews"


def test_speaker_prefix_picks_between_identical_quotes(locator: EvidenceLocator) -> None:
    assert locator.locate("Dana: Yes.").utterance_index == 7
    assert locator.locate("marcus lee: yes").utterance_index == 6
    assert locator.locate("Yes.").utterance_index == 6


def test_unknown_prefix_is_part_of_the_quote(locator: EvidenceLocator) -> None:
    match = locator.locate("Finance: our budget is around $40,000")
    assert match.score < 1.0
    assert locator.locate("Marcus Lee: our budget is around $40,000").score == 1.0


def test_copied_prompt_line_prefix(locator: EvidenceLocator) -> None:
    match = locator.locate("[7 00:55] Dana: Yes.")
    assert (match.verified, match.utterance_index, match.speaker, match.start) == (True, 7, "Dana", 55.0)


def test_hint_index_chooses_among_repeats() -> None:
    utterances = [Utterance(i, "Marcus", float(i), None, "That works for us.") for i in range(5)]
    assert locate_quote("That works for us", utterances, hint_index=3).utterance_index == 3
    assert locate_quote("That works for us", utterances, hint_index=99).utterance_index == 0


def test_hint_is_tried_first_for_fuzzy_quotes() -> None:
    utterances = [
        Utterance(0, "Dana", 0.0, None, "We need the renewal signed by the end of March."),
        Utterance(1, "Marcus", 5.0, None, "Sounds good."),
        Utterance(2, "Dana", 9.0, None, "We need the renewal signed by the end of May."),
    ]
    march, may = "we need the renewal signd by end of March", "we need the renewal signd by the end of May"
    assert locate_quote(march, utterances, hint_index=2).utterance_index == 0
    assert locate_quote(may, utterances, hint_index=0).utterance_index == 2
    assert locate_quote(may, utterances, hint_index=2).score > 0.95


def test_threshold_controls_verification() -> None:
    quote = "she needs to see the ROI befor Q3 planing"
    loose = locate_quote(quote, CALL, threshold=0.85)
    strict = locate_quote(quote, CALL, threshold=0.99)
    assert loose.verified is True
    assert strict.verified is False
    assert strict.score == pytest.approx(loose.score)


def test_invalid_threshold() -> None:
    with pytest.raises(ValueError, match="threshold"):
        EvidenceLocator(CALL, threshold=0)


def test_empty_transcript() -> None:
    assert locate_quote("anything", []).verified is False


def _synthetic_call(rng: random.Random, count: int) -> list[Utterance]:
    vocabulary = (
        "we our the a to and of is for that in it this you with on can need team pricing budget renewal "
        "contract seats license integration security review legal procurement timeline quarter pilot rollout "
        "onboarding support dashboard report data migration api sso admin manager director cfo approval sign "
        "deal discount annual invoice partner competitor feature roadmap demo trial metrics churn revenue "
        "process spreadsheet salesforce slack email meeting friday monday tomorrow think want should maybe"
    ).split()
    speakers = ("Dana", "Marcus Lee", "Priya")
    return [
        Utterance(
            i,
            speakers[i % 3],
            i * 6.0,
            i * 6.0 + 5.5,
            "um " * (i % 4 == 0) + " ".join(rng.choice(vocabulary) for _ in range(rng.randint(8, 40))) + ".",
        )
        for i in range(count)
    ]


def test_performance_1500_utterances_60_quotes() -> None:
    rng = random.Random(20240611)
    utterances = _synthetic_call(rng, 1500)
    quotes: list[tuple[str, int]] = []
    for n in range(60):
        source = utterances[rng.randrange(len(utterances))]
        words = source.text.removeprefix("um ").rstrip(".").split()
        if n % 3 == 0:
            quotes.append((" ".join(words[1:9]), source.index))
        elif n % 3 == 1:  # typo in a longer word
            typo = [w if len(w) < 6 or k != 3 else w[:-1] for k, w in enumerate(words[:10])]
            quotes.append((" ".join(typo), source.index))
        else:
            quotes.append(("procurement " * 3 + "we never discussed any of this with legal", source.index))
    # CPU time of this thread, not wall-clock: other processes on a loaded machine must not fail the test,
    # while an algorithmic regression (e.g. fuzzy matching against every utterance) still would.
    started = time.thread_time()
    locator = EvidenceLocator(utterances)
    matches = [locator.locate(quote) for quote, _ in quotes]
    elapsed = time.thread_time() - started
    assert elapsed < 1.0
    for (quote, source_index), match in zip(quotes, matches, strict=True):
        if "never" in quote:
            assert match.verified is False
        else:
            assert match.verified is True, quote
            assert locator.locate(quote, source_index).utterance_index == source_index
