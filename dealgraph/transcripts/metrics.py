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
a date range of the calls' dates, `to` exclusive; a call where they spoke under several speaker labels counts
once, with all those labels' talk, and their longest turn there is the longest label's). Sums are taken before dividing, so a long call weighs more:
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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict

from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import count_fillers_per_line

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


class ConversationFigure(enum.Enum):
    """The figures of a roll-up that deals and people can be ordered and filtered by: the one list of them, from
    which the order fields (`DealOrderField`, `PersonOrderField`) take theirs. A value is the figure's name in
    a roll-up (`dealgraph.db.repositories.conversation`)."""

    TALK_RATIO = "talk_ratio"
    LONGEST_MONOLOGUE = "longest_monologue_seconds"
    LONGEST_CUSTOMER_STORY = "longest_customer_story_seconds"
    INTERACTIVITY = "interactivity"
    PATIENCE = "patience_mean_seconds"
    QUESTION_RATE = "question_rate"
    WORDS_PER_MINUTE = "words_per_minute"
    FILLER_RATE = "filler_rate"


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


@dataclass(slots=True)
class _Tally:
    """One side's or one speaker's talk, summed as the call is read once; `turn_*` is its turn so far."""

    seconds: list[float] = field(default_factory=list)
    """Kept to be summed at the end with `sum`, exactly as the definitions add them up."""
    words: int = 0
    questions: int = 0
    fillers: int = 0
    longest_turn: float = 0.0
    turn_start: float = 0.0
    turn_end: float = 0.0

    def add(self, start: float, end: float, words: int, questions: int, fillers: int, continues: bool) -> None:
        """An utterance of theirs; `continues` when the utterance before it was theirs too (a turn may go on)."""
        self.seconds.append(end - start)
        self.words += words
        self.questions += questions
        self.fillers += fillers
        if not continues or start - self.turn_end >= TURN_GAP_SECONDS:
            self.turn_start = start
        self.turn_end = end
        if end - self.turn_start > self.longest_turn:
            self.longest_turn = end - self.turn_start

    def talk(self, talk_total: float) -> Talk:
        speaking = sum(self.seconds)
        return Talk(
            speaking_seconds=speaking,
            talk_share=_ratio(speaking, talk_total),
            words=self.words,
            words_per_minute=_ratio(self.words, speaking / 60),
            longest_turn_seconds=self.longest_turn,
            questions=self.questions,
            fillers=self.fillers,
            filler_rate=_ratio(self.fillers, speaking / 60),
        )


def call_metrics(utterances: Sequence[Utterance], sides: Mapping[str, Side]) -> CallMetrics:
    """The metrics of a call whose speakers are on `sides` (a speaker left out is UNKNOWN).

    One pass over the utterances: this runs inside `addTranscript` (see docs/benchmarks.md)."""
    rule = _timing_rule(utterances)
    texts = [u.text for u in utterances]
    words = [len(text.split()) for text in texts]
    questions = [len(_QUESTION.findall(text)) if "?" in text else 0 for text in texts]
    counts = zip(words, questions, count_fillers_per_line(texts), strict=True)
    times = _times(utterances, words, rule)
    by_side: dict[Side, _Tally] = {}
    by_speaker: dict[str, _Tally] = {}
    pauses: list[float] = []
    switches = 0
    previous_speaker: str | None = None
    previous_side: Side | None = None
    previous_end = 0.0
    last_known_side: Side | None = None
    for utterance, (start, end), (word_count, question_count, filler_count) in zip(
        utterances, times, counts, strict=True
    ):
        speaker = utterance.speaker
        side = sides.get(speaker, Side.UNKNOWN)
        if side not in by_side:
            by_side[side] = _Tally()
        if speaker not in by_speaker:
            by_speaker[speaker] = _Tally()
        by_side[side].add(start, end, word_count, question_count, filler_count, previous_side is side)
        by_speaker[speaker].add(start, end, word_count, question_count, filler_count, previous_speaker == speaker)
        if rule is not TimingRule.WORD_COUNT and previous_side is Side.BUYER and side is Side.SELLER:
            if 0 <= start - previous_end <= PATIENCE_MAX_PAUSE_SECONDS:
                pauses.append(start - previous_end)
        if side is not Side.UNKNOWN:
            if last_known_side is not None and last_known_side is not side:
                switches += 1
            last_known_side = side
        previous_speaker, previous_side, previous_end = speaker, side, end
    talk_total = sum(end - start for start, end in times)
    duration = max(end for _, end in times) - min(start for start, _ in times) if times else 0.0
    seller, buyer = by_side.get(Side.SELLER), by_side.get(Side.BUYER)
    return CallMetrics(
        timing=Timing.EXACT if rule is TimingRule.CUE_TIMES else Timing.ESTIMATED,
        timing_rule=rule,
        duration_seconds=duration,
        talk_ratio=_ratio(sum(seller.seconds), talk_total) if seller else None,
        longest_monologue_seconds=seller.longest_turn if seller else None,
        longest_customer_story_seconds=buyer.longest_turn if buyer else None,
        interactivity=_ratio(switches, duration / 60) if seller and buyer else None,
        patience_mean_seconds=statistics.fmean(pauses) if pauses else None,
        patience_median_seconds=statistics.median(pauses) if pauses else None,
        patience_pauses=len(pauses),
        question_rate=_ratio(seller.questions, duration / 3600) if seller else None,
        sides={side: by_side[side].talk(talk_total) for side in Side if side in by_side},
        speakers={name: tally.talk(talk_total) for name, tally in by_speaker.items()},
    )


def _timing_rule(utterances: Sequence[Utterance]) -> TimingRule:
    if all(u.start is not None and u.end is not None for u in utterances):
        return TimingRule.CUE_TIMES
    if all(u.start is not None for u in utterances):
        return TimingRule.START_TIMES
    return TimingRule.WORD_COUNT


def _times(utterances: Sequence[Utterance], words: Sequence[int], rule: TimingRule) -> list[tuple[float, float]]:
    """Each utterance's (start, end) by `rule`."""
    spoken = [w / ESTIMATED_WORDS_PER_SECOND for w in words]
    if rule is TimingRule.CUE_TIMES:
        return [(u.start or 0.0, u.end or 0.0) for u in utterances]
    if rule is TimingRule.START_TIMES:
        starts = [u.start or 0.0 for u in utterances]
        ends = [min(nxt, start + seconds) for start, nxt, seconds in zip(starts, starts[1:], spoken, strict=False)]
        ends.append(starts[-1] + spoken[-1])
        return [(start, max(start, end)) for start, end in zip(starts, ends, strict=True)]
    times, clock = [], 0.0
    for seconds in spoken:
        times.append((clock, clock + seconds))
        clock += seconds
    return times


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None
