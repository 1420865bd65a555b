import hashlib
import json

import pytest

from dealgraph.transcripts.formats import (
    ParsedTranscript,
    TranscriptFormat,
    TranscriptParseError,
    Utterance,
    detect_format,
    parse_transcript,
)

PLAIN = """\
[00:00:03] Dana (Acme): Thanks for making time today, Marcus.
[00:00:07] Marcus Lee: Of course. We've been looking at options since the Q2 review.
Pricing came up a lot: 40 seats is where we'd start.
00:01:05 Dana (Acme): That works. We can meet at 10:30 tomorrow
10:30 works for me, I'll send the invite.

Marcus Lee: Great.
Marcus Lee: One more thing, we need SSO.
"""

WEBVTT = """\
WEBVTT - Acme discovery call
Kind: captions

NOTE exported by the
meeting recorder

STYLE
::cue { color: white }

intro
00:00:01.000 --> 00:00:04.250 align:start position:10%
<v Dana Whitfield>Welcome, &amp; thanks for
joining the call.</v>

00:04.250 --> 00:06.000
<v.loud Marcus Lee>Happy to be here.</v>

3
00:00:06.000 --> 00:00:09.500
Marcus Lee: Budget is <b>$40,000</b> for this year.

00:00:09.500 --> 00:00:11.000
<v Dana Whitfield>Got it.</v> <v Marcus Lee>Note: that's firm.</v>

00:00:11.000 --> 00:00:12.000
<i>[crosstalk]</i>
"""

SRT = """\
1
00:00:01,000 --> 00:00:03,500
Dana: Can you walk me through
your current process?

2
00:00:03,500 --> 00:00:08,000
<i>Honestly</i>, it's all spreadsheets.

3
00:01:02,000 --> 00:01:05,250
Marcus: We'd want a pilot first.
"""

JSON_ITEMS = [
    {"speaker": "Dana", "start": 0, "end": 4.5, "text": "  Who else is involved\n in the decision? "},
    {"speaker": "Marcus", "start": 4.5, "end": 9.0, "text": "Our CFO signs off on anything over 50k."},
    {"speaker": "Marcus", "start": None, "end": None, "text": "Legal reviews the MSA.", "confidence": 0.9},
]


def error_of(text: str, fmt: TranscriptFormat | None = None, **kwargs: int) -> TranscriptParseError:
    with pytest.raises(TranscriptParseError) as info:
        parse_transcript(text, fmt, **kwargs)
    return info.value


class TestPlain:
    def test_speakers_timestamps_and_continuations(self) -> None:
        parsed = parse_transcript(PLAIN)
        assert parsed.format is TranscriptFormat.PLAIN
        assert parsed.utterances == (
            Utterance(0, "Dana (Acme)", 3.0, None, "Thanks for making time today, Marcus."),
            Utterance(
                1,
                "Marcus Lee",
                7.0,
                None,
                "Of course. We've been looking at options since the Q2 review. "
                "Pricing came up a lot: 40 seats is where we'd start.",
            ),
            Utterance(
                2,
                "Dana (Acme)",
                65.0,
                None,
                "That works. We can meet at 10:30 tomorrow 10:30 works for me, I'll send the invite.",
            ),
            Utterance(3, "Marcus Lee", None, None, "Great."),
            Utterance(4, "Marcus Lee", None, None, "One more thing, we need SSO."),
        )
        assert parsed.participants == ("Dana (Acme)", "Marcus Lee")

    def test_consecutive_turns_of_one_speaker_stay_separate(self) -> None:
        parsed = parse_transcript("[00:10] Ann: First point.\n[00:20] Ann: Second point.")
        assert [(u.index, u.start, u.text) for u in parsed.utterances] == [
            (0, 10.0, "First point."),
            (1, 20.0, "Second point."),
        ]

    def test_whitespace_is_normalized_and_crlf_accepted(self) -> None:
        parsed = parse_transcript("Ann:   we  need\t SSO\r\n   and   SCIM\r\nBob: ok")
        assert [u.text for u in parsed.utterances] == ["we need SSO and SCIM", "ok"]

    def test_speaker_label_with_empty_text_takes_following_line(self) -> None:
        parsed = parse_transcript("agent:\nHow can I help?\ncustomer: Billing question.")
        assert [(u.speaker, u.text) for u in parsed.utterances] == [
            ("agent", "How can I help?"),
            ("customer", "Billing question."),
        ]

    def test_bracketed_non_timestamp_is_text(self) -> None:
        parsed = parse_transcript("Ann: Sure.\n[laughs] that's fair")
        assert parsed.utterances[0].text == "Sure. [laughs] that's fair"

    def test_first_line_without_speaker(self) -> None:
        error = error_of("\n\nwelcome everyone\nAnn: hi")
        assert (error.line, error.unit) == (3, "line")
        assert error.message == "expected 'Speaker: text'"
        assert str(error) == "line 3: expected 'Speaker: text'"

    def test_timestamp_without_speaker(self) -> None:
        error = error_of("Ann: hi\n[00:01:05] and then we left")
        assert str(error) == "line 2: expected 'Speaker: text' after the timestamp"

    @pytest.mark.parametrize("stamp", ["00:61:05", "00:01:75", "1:2"])
    def test_bad_timestamp(self, stamp: str) -> None:
        error = error_of(f"Ann: hi\nBob: hello\n[{stamp}] Ann: bye")
        assert error.line == 3
        assert error.message == f"bad timestamp {stamp!r}"


class TestWebVTT:
    def test_cues_voices_and_markup(self) -> None:
        parsed = parse_transcript(WEBVTT)
        assert parsed.format is TranscriptFormat.WEBVTT
        assert parsed.utterances == (
            Utterance(0, "Dana Whitfield", 1.0, 4.25, "Welcome, & thanks for joining the call."),
            Utterance(1, "Marcus Lee", 4.25, 6.0, "Happy to be here."),
            Utterance(2, "Marcus Lee", 6.0, 9.5, "Budget is $40,000 for this year."),
            Utterance(3, "Dana Whitfield", 9.5, 11.0, "Got it."),
            Utterance(4, "Marcus Lee", 9.5, 11.0, "Note: that's firm."),
            Utterance(5, "Unknown", 11.0, 12.0, "[crosstalk]"),
        )
        assert parsed.participants == ("Dana Whitfield", "Marcus Lee", "Unknown")

    def test_hours_over_one(self) -> None:
        parsed = parse_transcript("WEBVTT\n\n01:02:03.500 --> 01:02:05.000\n<v Ann>Wrap up.")
        assert (parsed.utterances[0].start, parsed.utterances[0].end) == (3723.5, 3725.0)

    def test_cue_without_text_is_dropped(self) -> None:
        parsed = parse_transcript("WEBVTT\n\n00:01.000 --> 00:02.000\n<i></i>\n\n00:02.000 --> 00:03.000\nAnn: ok")
        assert [(u.index, u.text) for u in parsed.utterances] == [(0, "ok")]

    def test_end_before_start(self) -> None:
        error = error_of("WEBVTT\n\n00:01.000 --> 00:02.000\nAnn: ok\n\n00:00:05.000 --> 00:00:04.000\nAnn: no")
        assert error.line == 6
        assert error.message == "cue ends before it starts (00:00:05.000 --> 00:00:04.000)"

    def test_bad_timestamp(self) -> None:
        error = error_of("WEBVTT\n\n00:01.000 --> 00:0x.000\nAnn: ok")
        assert str(error) == "line 3: bad timestamp '00:0x.000'"

    def test_cue_id_without_timing(self) -> None:
        error = error_of("WEBVTT\n\nNOTE fine\n\ncue-7\nAnn: no timing here")
        assert error.line == 6
        assert error.message == "expected cue timing 'start --> end'"

    def test_cue_text_with_timing_line(self) -> None:
        error = error_of("WEBVTT\n\n00:01.000 --> 00:02.000\nAnn: ok\n00:02.000 --> 00:03.000\nBob: hi")
        assert str(error) == "line 5: expected a blank line before the next cue"

    def test_cue_glued_to_header(self) -> None:
        error = error_of("WEBVTT\n00:01.000 --> 00:02.000\nAnn: ok")
        assert str(error) == "line 2: expected a blank line after the WEBVTT header"

    def test_explicit_format_that_does_not_fit(self) -> None:
        error = error_of(SRT, TranscriptFormat.WEBVTT)
        assert str(error) == "line 1: expected 'WEBVTT' header (the text looks like srt, not webvtt)"


class TestSrt:
    def test_cues(self) -> None:
        parsed = parse_transcript(SRT)
        assert parsed.format is TranscriptFormat.SRT
        assert parsed.utterances == (
            Utterance(0, "Dana", 1.0, 3.5, "Can you walk me through your current process?"),
            Utterance(1, "Unknown", 3.5, 8.0, "Honestly, it's all spreadsheets."),
            Utterance(2, "Marcus", 62.0, 65.25, "We'd want a pilot first."),
        )

    def test_bad_cue_number(self) -> None:
        error = error_of(SRT.replace("\n3\n", "\nthree\n"))
        assert str(error) == "line 10: expected a cue number, got 'three'"

    def test_bad_timing_line(self) -> None:
        error = error_of(SRT.replace("00:00:03,500 --> 00:00:08,000", "00:00:03,500 -> 00:00:08,000"))
        assert error.line == 7
        assert error.message == "expected cue timing 'start --> end', got '00:00:03,500 -> 00:00:08,000'"

    def test_end_before_start(self) -> None:
        error = error_of(SRT.replace("00:01:02,000 --> 00:01:05,250", "00:01:02,000 --> 00:00:05,250"))
        assert error.line == 11
        assert error.message.startswith("cue ends before it starts")

    def test_cues_without_blank_line_between_them(self) -> None:
        error = error_of(SRT.replace("process?\n\n2\n", "process?\n2\n"))
        assert str(error) == "line 6: expected a blank line before the next cue"

    def test_cue_number_without_timing(self) -> None:
        error = error_of(SRT + "\n4\n")
        assert str(error) == "line 14: expected cue timing 'start --> end' after the cue number"

    def test_plain_text_forced_as_srt(self) -> None:
        error = error_of("Ann: hello", TranscriptFormat.SRT)
        assert str(error) == ("line 1: expected a cue number, got 'Ann: hello' (the text looks like plain, not srt)")


class TestJson:
    def test_items(self) -> None:
        parsed = parse_transcript(json.dumps(JSON_ITEMS, indent=2))
        assert parsed.format is TranscriptFormat.JSON
        assert parsed.utterances == (
            Utterance(0, "Dana", 0.0, 4.5, "Who else is involved in the decision?"),
            Utterance(1, "Marcus", 4.5, 9.0, "Our CFO signs off on anything over 50k."),
            Utterance(2, "Marcus", None, None, "Legal reviews the MSA."),
        )
        assert parsed.participants == ("Dana", "Marcus")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"start": "4.5"}, "start must be a number of seconds or null, got string"),
            ({"end": True}, "end must be a number of seconds or null, got boolean"),
            ({"start": -1}, "start must be between 0 and 86400 seconds, got -1"),
            ({"end": 3.6e23}, "end must be between 0 and 86400 seconds, got 3.6e+23"),
            ({"speaker": "S" * 201}, "speaker must be at most 200 characters"),
            ({"speaker": ""}, "speaker must be a non-empty string, got string"),
            ({"speaker": None}, "speaker must be a non-empty string, got null"),
            ({"text": ["a"]}, "text must be a string, got array"),
            ({"start": 9.0, "end": 4.5}, "end (4.5) is before start (9.0)"),
        ],
    )
    def test_invalid_item_names_its_number(self, change: dict[str, object], message: str) -> None:
        items = [dict(item) for item in JSON_ITEMS]
        items[1].update(change)
        error = error_of(json.dumps(items))
        assert (error.line, error.unit, error.message) == (2, "item", message)
        assert str(error) == f"item 2: {message}"

    def test_missing_keys(self) -> None:
        error = error_of(json.dumps([JSON_ITEMS[0], JSON_ITEMS[1], {"speaker": "Dana", "text": "hi"}]))
        assert str(error) == "item 3: missing start, end"

    def test_item_not_an_object(self) -> None:
        error = error_of(json.dumps([JSON_ITEMS[0], "Dana: hi"]))
        assert str(error) == "item 2: expected an object with speaker, start, end, text, got string"

    def test_invalid_json_reports_decoder_line(self) -> None:
        error = error_of('[\n  {"speaker": "Dana", "start": 0, "end": 1, "text": "hi"},\n  {"speaker": }\n]')
        assert (error.line, error.unit) == (3, "line")
        assert error.message.startswith("invalid JSON: Expecting value")

    def test_top_level_object(self) -> None:
        error = error_of('{"utterances": []}')
        assert error.line is None
        assert str(error) == "expected a JSON list of utterance objects, got object"

    def test_empty_list(self) -> None:
        assert str(error_of("[]")) == "transcript contains no utterances"


class TestDetection:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (PLAIN, TranscriptFormat.PLAIN),
            (WEBVTT, TranscriptFormat.WEBVTT),
            ("\ufeffWEBVTT\n\n00:01.000 --> 00:02.000\nhi", TranscriptFormat.WEBVTT),
            (SRT, TranscriptFormat.SRT),
            ("\r\n1\r\n00:00:01,000 --> 00:00:02,000\r\nhi", TranscriptFormat.SRT),
            (json.dumps(JSON_ITEMS), TranscriptFormat.JSON),
            ("  [ ]", TranscriptFormat.JSON),
            ("[00:00:01] Ann: hi", TranscriptFormat.PLAIN),
            ("WEBVTTX: not a header", TranscriptFormat.PLAIN),
            ("12 Angry Men: a film", TranscriptFormat.PLAIN),
        ],
    )
    def test_detect_format(self, text: str, expected: TranscriptFormat) -> None:
        assert detect_format(text) is expected

    def test_explicit_format_overrides_detection(self) -> None:
        parsed = parse_transcript("WEBVTT: the caption format\nAnn: indeed", TranscriptFormat.PLAIN)
        assert [u.speaker for u in parsed.utterances] == ["WEBVTT", "Ann"]

    def test_format_may_be_given_as_string(self) -> None:
        assert parse_transcript(SRT, "srt").format is TranscriptFormat.SRT  # type: ignore[arg-type]


class TestLimitsAndMetadata:
    def test_size_limit_in_megabytes(self) -> None:
        text = "Ann: " + "x" * 2_300_000
        error = error_of(text, max_bytes=2_000_000)
        assert error.line is None
        assert str(error) == "transcript is 2.3 MB; the limit is 2.0 MB"

    def test_size_limit_counts_utf8_bytes(self) -> None:
        text = "Ann: " + "é" * 600  # 1,205 bytes but only 605 characters
        assert str(error_of(text, max_bytes=1_000)) == "transcript is 1.2 KB; the limit is 1.0 KB"
        assert parse_transcript(text, max_bytes=1_205).utterances[0].text == "é" * 600

    def test_size_limit_falls_back_to_bytes_when_units_round_equal(self) -> None:
        assert str(error_of("Ann: hello", max_bytes=9)) == "transcript is 10 bytes; the limit is 9 bytes"

    @pytest.mark.parametrize("text", ["", "   \n\t\r\n"])
    def test_empty(self, text: str) -> None:
        assert str(error_of(text)) == "transcript is empty"

    def test_content_hash_ignores_newline_style_and_outer_whitespace(self) -> None:
        parsed = parse_transcript("\r\n  Ann: hi\r\nBob: hello  \r\n")
        assert parsed.content_hash == hashlib.sha256(b"Ann: hi\nBob: hello").hexdigest()
        assert parse_transcript("Ann: hi\nBob: hello").content_hash == parsed.content_hash
        assert parse_transcript("Ann: hi\nBob: hello!").content_hash != parsed.content_hash

    @pytest.mark.parametrize(
        ("text", "language"),
        [
            ("Ann: We have the budget and the team is ready for this.", "en"),
            ("Ann: Wir haben das Budget und die Zeit ist nicht das Problem.", "de"),
            ("Ann: Nous avons le budget et pour nous c'est une priorité.", "fr"),
            ("Ann: El presupuesto es para el equipo y los usuarios, pero no ahora.", "es"),
            ("Ann: Você não tem uma proposta? Isso é muito importante para nós.", "pt"),
            ("Ann: Il budget non è un problema per noi, ma il tempo sì.", "it"),
            ("Ann: Het budget is niet het probleem, maar de tijd wel.", "nl"),
            ("Ann: SSO? SCIM! OKR.", "en"),
        ],
    )
    def test_language_guess(self, text: str, language: str) -> None:
        assert parse_transcript(text).language == language

    def test_result_is_immutable(self) -> None:
        parsed = parse_transcript(SRT)
        assert isinstance(parsed, ParsedTranscript)
        with pytest.raises(AttributeError):
            parsed.language = "de"  # type: ignore[misc]


class TestAbsurdInput:
    """Values no call has are refused with the line that holds them, in every format alike."""

    HUGE = "100000000000000000000:00:00"  # 3.6e23 seconds
    HUGE_DIGITS = "9" * 5000  # beyond the 4,300 digits int() converts

    @pytest.mark.parametrize(
        ("text", "line"),
        [
            (f"Ann: hello\n[{HUGE}] Bob: hi", 2),
            (f"WEBVTT\n\n00:00:01.000 --> {HUGE}.000\nAnn: hello", 3),
            (f"1\n00:00:01,000 --> 00:00:02,000\nAnn: hello\n\n2\n{HUGE},000 --> {HUGE},500\nBob: hi", 6),
            # beyond the 4,300 digits Python's int() converts: that was a ValueError, an internal error
            (f"[{HUGE_DIGITS}:00:00] Ann: hi", 1),
            (f"Ann: hello\n{HUGE_DIGITS}:00:00 Bob: hi", 2),
            (f"WEBVTT\n\n{HUGE_DIGITS}:00:00.000 --> 00:00:01.000\nAnn: hello", 3),
            (f"1\n{HUGE_DIGITS}:00:00,000 --> 00:00:01,000\nAnn: hello", 2),
        ],
    )
    def test_timestamps_beyond_a_day(self, text: str, line: int) -> None:
        error = error_of(text)
        assert error.line == line and "more than 24 hours into the call" in error.message

    def test_leading_zeros_do_not_make_an_hour_late(self) -> None:
        assert parse_transcript(f"[{'0' * 5000}1:00:00] Ann: hi").utterances[0].start == 3600.0

    @pytest.mark.parametrize(
        ("content", "field"),
        [
            (f'[{{"speaker": "Ann", "text": "hi", "start": {HUGE_DIGITS}, "end": 1}}]', "start"),
            (f'[{{"speaker": "Ann", "text": "hi", "start": 0, "end": {"9" * 4500}}}]', "end"),
        ],
    )
    def test_json_seconds_beyond_pythons_integer_digit_limit(self, content: str, field: str) -> None:
        error = error_of(content)
        assert str(error) == f"item 1: {field} must be between 0 and 86400 seconds, got inf"

    @pytest.mark.parametrize(
        ("field", "char", "reason"),
        [
            ("speaker", "\x00", "a NUL character (\\u0000)"),
            ("text", "\x00", "a NUL character (\\u0000)"),
            ("speaker", "\ud800", "an unpaired UTF-16 surrogate"),
            ("text", "\udc00", "an unpaired UTF-16 surrogate"),
        ],
    )
    def test_json_escapes_postgres_cannot_store(self, field: str, char: str, reason: str) -> None:
        content = json.dumps([JSON_ITEMS[0], {**JSON_ITEMS[1], field: f"x{char}y"}])
        assert content.isascii()  # only the JSON escape carries it, as it arrives through GraphQL
        assert str(error_of(content)) == f"item 2: {field} contains {reason}"

    def test_a_day_is_still_a_call(self) -> None:
        assert parse_transcript("[24:00:00] Ann: still here").utterances[0].start == 86400.0

    def test_deeply_nested_json(self) -> None:
        error = error_of('[{"speaker": ' + "[" * 100_000 + "]" * 100_000 + "}]")
        assert str(error) == "invalid JSON: nested too deeply"

    def test_overlong_voice_name(self) -> None:
        error = error_of(f"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n<v {'N' * 201}>hello")
        assert error.line == 4 and "longer than 200 characters" in error.message
