"""Conversation metrics of one call, from its utterances' timings and each speaker's side; no model, no key.

This docstring is where the metrics are defined; the API docs point here.

- **Timing.** `exact` when every utterance has a start and an end (WebVTT, SRT, JSON with both). Otherwise
  `estimated`, by one of two rules (`timing_rule` names it): with a start on every utterance, an utterance lasts
  until the next one starts, but no longer than its words take at 150 words a minute (`START_TIMES`); with any
  start missing, every utterance lasts its words at 150 words a minute and they follow each other without a pause
  (`WORD_COUNT`; pauses, and so patience, are unknown).
- **Speaking time**: the sum of utterance durations; silence is nobody's, overlapping speech counts for each
  speaker. **Talk ratio**: seller speaking time ÷ all speaking time (UNKNOWN speakers included).
- **Turn**: consecutive utterances of one side (of one speaker, for a speaker's own figures) with gaps under
  1 s between them, from the first one's start to the last one's end. **Longest monologue**: the longest seller
  turn; **longest customer story**: the longest buyer turn.
- **Interactivity**: side switches (a SELLER utterance next to a BUYER one; UNKNOWN utterances are skipped)
  per minute of call, the call lasting from the first start to the last end.
- **Patience**: the pause from the end of a buyer utterance to the start of the seller utterance right after
  it, pauses over 10 s and overlaps (negative pauses) left out; mean and median.
- **Question rate**: seller questions (runs of "?") per hour of call.
- **Words per minute**: words ÷ speaking minutes. **Filler rate**: fillers (the hesitations and filler phrases
  `dealgraph.transcripts.preprocess` removes) per minute of speaking.

A figure whose denominator is zero (no seller, no timing, a call of no length) is None, never 0.

**Roll-ups** (`dealgraph.db.repositories.conversation`, in SQL over the stored call metrics) are about one
party's talk over many calls: a deal's seller side over its calls, or a person over the calls they spoke on (in
a date range of the calls' dates, `to` exclusive). Sums are taken before dividing, so a long call weighs more:
talk ratio = their speaking ÷ all speaking, over the calls they spoke on; longest monologue = their longest turn;
longest customer story = the longest buyer turn; interactivity = side switches ÷ minutes, over the calls that
have both sides; patience = the mean pause over all the calls' pauses (a roll-up has no median); question rate
= their questions ÷ hours of the calls they spoke on; words per minute and filler rate = their words and fillers
÷ their speaking minutes. Timing is EXACT only when every call's is. Ordered by a figure, deals or people without
it come last in descending order (first in ascending); filtered by one, they are left out.
"""

from __future__ import annotations

import enum
import re
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

from pydantic import BaseModel, ConfigDict

from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import count_fillers

TURN_GAP_SECONDS = 1.0
PATIENCE_MAX_PAUSE_SECONDS = 10.0
ESTIMATED_WORDS_PER_SECOND = 150 / 60
_QUESTION = re.compile(r"\?+")


class Side(enum.StrEnum):
    SELLER = "seller"
    BUYER = "buyer"
    UNKNOWN = "unknown"


class Timing(enum.StrEnum):
    EXACT = "exact"
    ESTIMATED = "estimated"


class TimingRule(enum.StrEnum):
    """How utterance durations were obtained; see the module docstring."""

    CUE_TIMES = "cue_times"
    START_TIMES = "start_times"
    WORD_COUNT = "word_count"


class Talk(BaseModel):
    """One speaker's or one side's share of the call."""

    model_config = ConfigDict(frozen=True)

    speaking_seconds: float
    talk_share: float | None
    words: int
    words_per_minute: float | None
    longest_turn_seconds: float
    questions: int
    fillers: int
    filler_rate: float | None


class CallMetrics(BaseModel):
    """A call's metrics; stored as JSON and recomputed from the utterances when a side changes."""

    model_config = ConfigDict(frozen=True)

    timing: Timing
    timing_rule: TimingRule
    duration_seconds: float
    talk_ratio: float | None
    longest_monologue_seconds: float | None
    longest_customer_story_seconds: float | None
    interactivity: float | None
    patience_mean_seconds: float | None
    patience_median_seconds: float | None
    patience_pauses: int = 0
    """How many pauses the patience figures are over (what a roll-up weighs each call's mean by)."""
    question_rate: float | None
    sides: dict[Side, Talk]
    speakers: dict[str, Talk]


@dataclass(frozen=True, slots=True)
class _Span:
    speaker: str
    side: Side
    start: float
    end: float
    words: int
    questions: int
    fillers: int

    @property
    def seconds(self) -> float:
        return self.end - self.start


def call_metrics(utterances: Sequence[Utterance], sides: Mapping[str, Side]) -> CallMetrics:
    """The metrics of a call whose speakers are on `sides` (a speaker left out is UNKNOWN)."""
    rule = _timing_rule(utterances)
    spans = _spans(utterances, sides, rule)
    talk_total = sum(s.seconds for s in spans)
    duration = max(s.end for s in spans) - min(s.start for s in spans) if spans else 0.0
    by_side = {side: [s for s in spans if s.side is side] for side in Side}
    seller, buyer = by_side[Side.SELLER], by_side[Side.BUYER]
    pauses = _patience_pauses(spans) if rule is not TimingRule.WORD_COUNT else []
    return CallMetrics(
        timing=Timing.EXACT if rule is TimingRule.CUE_TIMES else Timing.ESTIMATED,
        timing_rule=rule,
        duration_seconds=duration,
        talk_ratio=_ratio(sum(s.seconds for s in seller), talk_total) if seller else None,
        longest_monologue_seconds=_longest_turn(spans, _of_side(Side.SELLER)) if seller else None,
        longest_customer_story_seconds=_longest_turn(spans, _of_side(Side.BUYER)) if buyer else None,
        interactivity=_ratio(_side_switches(spans), duration / 60) if seller and buyer else None,
        patience_mean_seconds=statistics.fmean(pauses) if pauses else None,
        patience_median_seconds=statistics.median(pauses) if pauses else None,
        patience_pauses=len(pauses),
        question_rate=_ratio(sum(s.questions for s in seller), duration / 3600) if seller else None,
        sides={side: _talk(spans, talk_total, _of_side(side)) for side, own in by_side.items() if own},
        speakers={name: _talk(spans, talk_total, _of_speaker(name)) for name in _names(spans)},
    )


def _timing_rule(utterances: Sequence[Utterance]) -> TimingRule:
    if all(u.start is not None and u.end is not None for u in utterances):
        return TimingRule.CUE_TIMES
    if all(u.start is not None for u in utterances):
        return TimingRule.START_TIMES
    return TimingRule.WORD_COUNT


def _spans(utterances: Sequence[Utterance], sides: Mapping[str, Side], rule: TimingRule) -> list[_Span]:
    words = [len(u.text.split()) for u in utterances]
    spoken = [w / ESTIMATED_WORDS_PER_SECOND for w in words]
    if rule is TimingRule.CUE_TIMES:
        times = [(u.start or 0.0, u.end or 0.0) for u in utterances]
    elif rule is TimingRule.START_TIMES:
        starts = [u.start or 0.0 for u in utterances]
        ends = [min(nxt, start + seconds) for start, nxt, seconds in zip(starts, starts[1:], spoken, strict=False)]
        ends.append(starts[-1] + spoken[-1])
        times = [(start, max(start, end)) for start, end in zip(starts, ends, strict=True)]
    else:
        times, clock = [], 0.0
        for seconds in spoken:
            times.append((clock, clock + seconds))
            clock += seconds
    return [
        _Span(
            u.speaker,
            sides.get(u.speaker, Side.UNKNOWN),
            start,
            end,
            count,
            len(_QUESTION.findall(u.text)),
            count_fillers(u.text),
        )
        for u, (start, end), count in zip(utterances, times, words, strict=True)
    ]


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _names(spans: Iterable[_Span]) -> list[str]:
    return list(dict.fromkeys(s.speaker for s in spans))


def _longest_turn(spans: Sequence[_Span], belongs: Callable[[_Span], bool]) -> float:
    """The longest run of consecutive spans that `belongs` accepts, split where a gap reaches 1 s."""
    longest, first, last = 0.0, None, None
    for span in spans:
        if not belongs(span):
            first = last = None
            continue
        if last is None or span.start - last.end >= TURN_GAP_SECONDS:
            first = span
        last = span
        assert first is not None
        longest = max(longest, last.end - first.start)
    return longest


def _side_switches(spans: Sequence[_Span]) -> int:
    known = [s.side for s in spans if s.side is not Side.UNKNOWN]
    return sum(1 for before, after in pairwise(known) if before is not after)


def _patience_pauses(spans: Sequence[_Span]) -> list[float]:
    return [
        after.start - before.end
        for before, after in pairwise(spans)
        if before.side is Side.BUYER
        and after.side is Side.SELLER
        and 0 <= after.start - before.end <= PATIENCE_MAX_PAUSE_SECONDS
    ]


def _talk(spans: Sequence[_Span], talk_total: float, belongs: Callable[[_Span], bool]) -> Talk:
    """The talk of the spans `belongs` accepts (one side's, or one speaker's)."""
    own = [s for s in spans if belongs(s)]
    speaking = sum(s.seconds for s in own)
    words = sum(s.words for s in own)
    fillers = sum(s.fillers for s in own)
    return Talk(
        speaking_seconds=speaking,
        talk_share=_ratio(speaking, talk_total),
        words=words,
        words_per_minute=_ratio(words, speaking / 60),
        longest_turn_seconds=_longest_turn(spans, belongs),
        questions=sum(s.questions for s in own),
        fillers=fillers,
        filler_rate=_ratio(fillers, speaking / 60),
    )


def _of_side(side: Side) -> Callable[[_Span], bool]:
    return lambda span: span.side is side


def _of_speaker(name: str) -> Callable[[_Span], bool]:
    return lambda span: span.speaker == name
