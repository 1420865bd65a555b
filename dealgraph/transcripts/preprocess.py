"""Shrink transcript text for LLM prompts without losing what was said.

Cleaning is deliberately conservative and idempotent: the evidence verifier applies it
to both the original transcript and the model's quotes, so anything removed here must
be noise in every context, and a quote copied from cleaned text must clean to itself.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate

from dealgraph.transcripts.formats import Utterance

# Lookarounds instead of \b so "uh-huh" (a real "yes") and "I'm" are never split apart.
_NOT_WORD_BEFORE = r"(?<![\w'’-])"
_NOT_WORD_AFTER = r"(?![\w'’-])"

# Hesitation sounds carry no meaning anywhere; an attached comma goes with them.
_HESITATION = re.compile(rf"{_NOT_WORD_BEFORE}(?:u+h*m+|u+h+|e+r+m+|h+m+){_NOT_WORD_AFTER} ?,?", re.IGNORECASE)
# "you know" / "I mean" / "like" are only fillers when set off as a clause of their own;
# "I'd like, um, two seats" and "do you know, ..." keep their words.
_LEADING_PHRASE = re.compile(r"(^|[,.;:!?] ?)(?:you know|i mean|like) ?, ?", re.IGNORECASE)
_TRAILING_PHRASE = re.compile(r", ?(?:you know|i mean)(?= ?[.?!]|$)", re.IGNORECASE)
# Only function words are de-stuttered: "very very", "no no" and "had had" are meaningful.
_STUTTER_WORDS = (
    "i we you they he she it the a an and but so to of in on for with this my our your if or what there"
    " i'm we're you're they're it's"
).split()
_ANY_STUTTER_WORD = "|".join(word.replace("'", "['’]") for word in _STUTTER_WORDS)
_STUTTER = re.compile(rf"{_NOT_WORD_BEFORE}({_ANY_STUTTER_WORD})(?: \1)+{_NOT_WORD_AFTER}", re.IGNORECASE)

_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\s+"), " "),
    (_HESITATION, ""),
    (_LEADING_PHRASE, r"\1"),
    (_TRAILING_PHRASE, ""),
    (_STUTTER, r"\1"),
    (re.compile(r" (?=[,.;:!?])"), ""),  # space left before punctuation
    (re.compile(r",(?=[,.;:!?])"), ""),  # comma left before other punctuation
    (re.compile(r"^[,;:] ?|,$|^ | $"), ""),
)
_WORD = re.compile(r"\w")
_FILLERS = (_HESITATION, _LEADING_PHRASE, _TRAILING_PHRASE)
# What every filler contains, in lowercased ASCII: "um" or "hm" (u+h*m+), "uh" (u+h+), "rm" (e+r+m+), "hm"
# (h+m+), or the phrase itself. Beyond ASCII, case-insensitive matching is not a plain lowercase ("ı" matches "i").
_FILLER_HINT = re.compile("um|uh|hm|rm|you know|i mean|like")

# Where a rule could apply, in lowercased printable ASCII (which has no whitespace but the space): a
# hesitation, phrase or stutter as whole words, two spaces, or the punctuation rules' own patterns.
# One scan, about a quarter of the cost of running the rules over a line they leave unchanged.
_MAY_APPLY = re.compile(
    rf"(?<![\w'-])(?:u+h*m+|u+h+|e+r+m+|h+m+|you know|i mean|like|(?P<word>{'|'.join(_STUTTER_WORDS)}) (?P=word))"
    r"(?![\w'-])|  | [,.;:!?]|,[,.;:!?]|^[,;: ]|[, ]$"
)


def clean_utterance_text(text: str) -> str:
    """Remove fillers and stutters; text with no words left (e.g. "Um.") becomes ""."""
    if _rules_may_apply(text):
        text = _apply_rules(text)
    return text if _WORD.search(text) else ""


def count_fillers(text: str) -> int:
    """The fillers `clean_utterance_text` removes: hesitation sounds and set-off "you know" / "I mean" / "like".

    Conversation metrics count them with the same patterns, so the filler rate and the cleaning agree."""
    if text.isascii() and _FILLER_HINT.search(text.lower()) is None:
        return 0  # most lines: one scan for a hint instead of the three patterns, at a tenth of the cost
    return _count_filler_matches(text)


def count_fillers_per_line(texts: Sequence[str]) -> list[int]:
    """`count_fillers` of each text; a whole call is looked through for hints in one scan when it is ASCII."""
    joined = "\n".join(texts)  # no hint spans a line break, so each hint found lies within one text
    if not joined.isascii():
        return [count_fillers(text) for text in texts]
    counts = [0] * len(texts)
    ends = list(accumulate(len(text) + 1 for text in texts))
    lowered = joined.lower()
    hint = _FILLER_HINT.search(lowered)
    while hint is not None:
        line = bisect_right(ends, hint.start())
        counts[line] = _count_filler_matches(texts[line])
        hint = _FILLER_HINT.search(lowered, ends[line])
    return counts


def _count_filler_matches(text: str) -> int:
    return sum(len(pattern.findall(text)) for pattern in _FILLERS)


def _rules_may_apply(text: str) -> bool:
    """False only when no rule can change `text` (most lines have no filler). Exact for printable ASCII;
    other text always gets the rules: case-insensitive matching beyond ASCII is not a plain lowercase."""
    return not (text.isascii() and text.isprintable()) or _MAY_APPLY.search(text.lower()) is not None


def _apply_rules(text: str) -> str:
    previous = None
    while text != previous:  # until a fixpoint, so removing "um" in "I um I" also de-stutters
        previous = text
        for pattern, replacement in _RULES:
            text = pattern.sub(replacement, text)
    return text


def render_for_prompt(utterances: Sequence[Utterance]) -> str:
    """One `[index clock] Speaker: text` line per utterance; the index maps model evidence back."""
    return "\n".join(f"[{u.index} {_clock(u.start)}] {u.speaker}: {clean_utterance_text(u.text)}" for u in utterances)


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "--:--"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"
