"""Conversation metrics on hand-made calls whose answers are worked out by hand (definitions: dealgraph.transcripts.metrics)."""

from __future__ import annotations

import pytest

from dealgraph.transcripts.formats import parse_transcript
from dealgraph.transcripts.metrics import CallMetrics, Side, Timing, TimingRule, call_metrics

SIDES = {"Rep": Side.SELLER, "Dana": Side.BUYER}

# Rep speaks 55.5 s, Dana 71 s. Rep's first two cues are 0.5 s apart: one 20 s turn (the longest monologue);
# Dana's first two touch: one 38 s story. Pauses before Rep after Dana: 3, 5, 10 (kept), 20 (too long) and
# -1 (an overlap): mean 6, median 5. Ten side switches in 190 s. Rep asks 3 questions and says "um" and
# ", you know," once each.
EXACT_CALL = """WEBVTT

00:00:00.000 --> 00:00:10.000
<v Rep>Hi Dana, thanks for joining. How is the quarter going?

00:00:10.500 --> 00:00:20.000
<v Rep>Let me share the agenda first, um, then questions.

00:00:22.000 --> 00:00:52.000
<v Dana>Busy. We lost two renewals because onboarding takes months and the board noticed.

00:00:52.000 --> 00:01:00.000
<v Dana>So we need a faster rollout.

00:01:03.000 --> 00:01:13.000
<v Rep>What would success look like? And who signs off?

00:01:30.000 --> 00:01:40.000
<v Dana>Faster onboarding, and our CFO signs.

00:01:45.000 --> 00:01:50.000
<v Rep>Got it.

00:02:00.000 --> 00:02:10.000
<v Dana>Also security review.

00:02:20.000 --> 00:02:30.000
<v Rep>Understood, you know, we can help.

00:02:29.000 --> 00:02:35.000
<v Dana>One more thing.

00:02:55.000 --> 00:03:00.000
<v Rep>Sure.

00:02:58.000 --> 00:03:05.000
<v Dana>Send the deck.

00:03:04.000 --> 00:03:10.000
<v Rep>Thanks everyone.
"""


def metrics_of(text: str, sides: dict[str, Side] = SIDES) -> CallMetrics:
    return call_metrics(parse_transcript(text).utterances, sides)


def test_exact_timings() -> None:
    m = metrics_of(EXACT_CALL)
    assert (m.timing, m.timing_rule, m.duration_seconds) == (Timing.EXACT, TimingRule.CUE_TIMES, 190)
    assert m.talk_ratio == pytest.approx(55.5 / 126.5)
    assert (m.longest_monologue_seconds, m.longest_customer_story_seconds) == (20, 38)
    assert m.interactivity == pytest.approx(10 / (190 / 60))
    assert (m.patience_mean_seconds, m.patience_median_seconds) == (6, 5)
    assert m.question_rate == pytest.approx(3 / (190 / 3600))
    rep, dana = m.sides[Side.SELLER], m.sides[Side.BUYER]
    assert (rep.speaking_seconds, rep.words, rep.questions, rep.fillers) == (55.5, 39, 3, 2)
    assert rep.words_per_minute == pytest.approx(39 / (55.5 / 60))
    assert rep.filler_rate == pytest.approx(2 / (55.5 / 60))
    assert (dana.speaking_seconds, dana.longest_turn_seconds, dana.talk_share) == (71, 38, pytest.approx(71 / 126.5))
    assert m.speakers == {"Rep": rep, "Dana": dana}  # one speaker a side: a speaker's figures are the side's
    assert Side.UNKNOWN not in m.sides


def test_start_times_only_are_estimated_from_the_next_start_or_the_words() -> None:
    # Rep's 5 words take 2 s (150 wpm); Dana's 10 words would take 4 s but Rep starts again 2 s in;
    # Rep's last word takes 0.4 s. Dana ends exactly when Rep starts: a pause of 0.
    m = metrics_of("[00:00] Rep: one two three four five\n[00:10] Dana: a b c d e f g h i j\n[00:12] Rep: ok?\n")
    assert (m.timing, m.timing_rule) == (Timing.ESTIMATED, TimingRule.START_TIMES)
    assert m.sides[Side.SELLER].speaking_seconds == pytest.approx(2.4)
    assert m.sides[Side.BUYER].speaking_seconds == pytest.approx(2)
    assert m.talk_ratio == pytest.approx(2.4 / 4.4)
    assert m.duration_seconds == pytest.approx(12.4)
    assert (m.patience_mean_seconds, m.patience_median_seconds) == (0, 0)


def test_without_times_utterances_last_their_words_back_to_back() -> None:
    m = metrics_of("Rep: one two three four five\nDana: a b c d e\nRep: v w x y z\n")
    assert (m.timing, m.timing_rule, m.duration_seconds) == (Timing.ESTIMATED, TimingRule.WORD_COUNT, 6)
    assert m.talk_ratio == pytest.approx(4 / 6)
    assert m.longest_monologue_seconds == 2  # Dana in between: two turns, not one
    assert m.interactivity == pytest.approx(2 / 0.1)
    assert m.patience_mean_seconds is None  # no pauses are known


def test_unresolved_sides_still_give_each_speaker_figures() -> None:
    m = metrics_of(EXACT_CALL, {})
    assert set(m.sides) == {Side.UNKNOWN}
    assert m.talk_ratio is m.longest_monologue_seconds is m.interactivity is m.question_rate is None
    assert m.speakers["Rep"].speaking_seconds == 55.5 and m.speakers["Rep"].longest_turn_seconds == 20
    assert m.speakers["Dana"].talk_share == pytest.approx(71 / 126.5)


def test_a_gap_of_one_second_splits_a_turn() -> None:
    m = metrics_of("WEBVTT\n\n00:00.000 --> 00:02.000\n<v Rep>a\n\n00:03.000 --> 00:05.000\n<v Rep>b\n", SIDES)
    assert m.longest_monologue_seconds == 2 and m.longest_customer_story_seconds is None


def test_metrics_round_trip_through_json() -> None:
    m = metrics_of(EXACT_CALL)
    assert CallMetrics.model_validate(m.model_dump(mode="json")) == m
