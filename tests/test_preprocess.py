import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dealgraph.transcripts import preprocess
from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import clean_utterance_text, render_for_prompt

# Words the rules react to and near misses of them ("umbrella", "likely", "the then"), in both cases.
_WORDS = (
    "um uh hmm erm Um UH Hm umbrella hummus number form likely like Like you know I mean i I we We the The a an"
    " it's it’s I'm we're so and then platform İ é 5 x"
).split()
_SPACES = [" ", " ", " ", " ", " ", " ", "", "  ", "\t", "\u00a0"]
_texts = st.lists(
    st.tuples(st.sampled_from(_WORDS), st.text(alphabet=",.?;:-'", max_size=2), st.sampled_from(_SPACES)), max_size=8
)


@settings(max_examples=1000, deadline=None)
@given(_texts.map(lambda parts: "".join(word + mark + space for word, mark, space in parts)))
def test_skipping_lines_without_fillers_never_changes_the_result(text: str) -> None:
    """The shortcut for lines no rule applies to must give exactly what running every rule gives."""
    for variant in (text, text.strip(), f", {text}"):
        rules = preprocess._apply_rules(variant)
        assert clean_utterance_text(variant) == (rules if preprocess._WORD.search(rules) else "")


# Case-insensitive matching beyond ASCII: "ı" and "İ" match "i", the Kelvin sign "K" matches "k".
_FOLDED = ["ı mean", "İ mean", "lıke", "LİKE", "li\u212ae", "YOU KNOW", "ıı"]
_filler_texts = st.lists(
    st.tuples(st.sampled_from(_WORDS + _FOLDED), st.text(alphabet=",.?;:-'", max_size=2), st.sampled_from(_SPACES)),
    max_size=8,
)


@settings(max_examples=1000, deadline=None)
@given(
    st.lists(_filler_texts.map(lambda parts: "".join(word + mark + space for word, mark, space in parts)), max_size=4)
)
def test_counting_fillers_with_the_shortcuts_counts_what_the_patterns_find(texts: list[str]) -> None:
    """Lines without a hint of a filler are counted 0 without running the patterns; that must change no count,
    line by line or a call at a time."""
    variants = [variant for text in texts for variant in (text, text.strip(), f", {text}", f"{text}.", f"{text}\n")]
    expected = [sum(len(pattern.findall(text)) for pattern in preprocess._FILLERS) for text in variants]
    assert [preprocess.count_fillers(text) for text in variants] == expected
    assert preprocess.count_fillers_per_line(variants) == expected
    ascii_only = [text for text in variants if text.isascii()]
    assert preprocess.count_fillers_per_line(ascii_only) == [
        n for text, n in zip(variants, expected, strict=True) if text.isascii()
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Um, I I think the the price is, you know, too high.", "I think the price is, too high."),
        ("So um we we need it by uh Friday.", "So we need it by Friday."),
        ("Hmm, erm, umm, uhh let's see.", "let's see."),
        ("We could send it, uh.", "We could send it."),
        ("I mean, it's fine for now, I mean.", "it's fine for now."),
        ("Like, we need SSO before Q3.", "we need SSO before Q3."),
        ("It is expensive, you know.", "It is expensive."),
        ("Honestly,   the    onboarding\twas rough .", "Honestly, the onboarding was rough."),
        ("We’re we’re close to signing.", "We’re close to signing."),
        ("I um I think so", "I think so"),
        ("Tolerance is 5 mm, hm, no, 5 cm.", "Tolerance is 5 mm, no, 5 cm."),
    ],
)
def test_removes_fillers_and_stutters(text: str, expected: str) -> None:
    assert clean_utterance_text(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Uh-huh, that works for us.",
        "I'd like two seats, and I like the roadmap.",
        "Do you know, roughly, the renewal date?",
        "I mean it: this is a very very important no no no.",
        "What it is is a licensing question. I had had enough.",
        "The umbrella policy covers the hummus plant.",
        "That that clause is the problem.",
        "Tolerance is 5 mm, not 5 cm.",
    ],
)
def test_leaves_text_without_fillers_unchanged(text: str) -> None:
    assert clean_utterance_text(text) == text


@pytest.mark.parametrize("text", ["Um.", "Hmm?", "  uh ,  um  ", ""])
def test_filler_only_text_becomes_empty(text: str) -> None:
    assert clean_utterance_text(text) == ""


@pytest.mark.parametrize(
    "text",
    [
        "you know, like, I mean, we should, um, the the pilot",
        "Uh, so, you know, I I I'm not sure, like, honestly.",
        "Okay , um , ok",
    ],
)
def test_cleaning_is_idempotent(text: str) -> None:
    once = clean_utterance_text(text)
    assert clean_utterance_text(once) == once


def test_render_for_prompt() -> None:
    utterances = [
        Utterance(0, "Dana", 5.9, 9.0, "Um, so what's your timeline?"),
        Utterance(1, "Marcus Lee", 65.0, None, "We we need it live by, uh, October."),
        Utterance(2, "Marcus Lee", None, None, "Hmm."),
        Utterance(3, "Dana", 3725.4, None, "Thanks, everyone."),
    ]
    assert render_for_prompt(utterances) == (
        "[0 00:05] Dana: so what's your timeline?\n"
        "[1 01:05] Marcus Lee: We need it live by, October.\n"
        "[2 --:--] Marcus Lee: \n"
        "[3 1:02:05] Dana: Thanks, everyone."
    )


def test_render_keeps_original_indices() -> None:
    subset = [
        Utterance(41, "Dana", 600.0, None, "Next steps?"),
        Utterance(57, "Marcus", 599.99, None, "Pilot."),
    ]
    assert render_for_prompt(subset) == "[41 10:00] Dana: Next steps?\n[57 09:59] Marcus: Pilot."


def test_render_empty() -> None:
    assert render_for_prompt([]) == ""
