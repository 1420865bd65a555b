"""Parse uploaded sales-call transcripts (plain text, WebVTT, SRT, JSON) into utterances.

Errors always name the 1-based line of the uploaded text (or the JSON item number)
because users fix their exports by hand and need to know where to look.
"""

from __future__ import annotations

import enum
import hashlib
import html
import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any, NamedTuple

from dealgraph.validation import unstorable_reason


class TranscriptFormat(enum.StrEnum):
    PLAIN = "plain"
    WEBVTT = "webvtt"
    SRT = "srt"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class Utterance:
    """One speaker turn; `index` is its 0-based position, which prompts and evidence refer to."""

    index: int
    speaker: str
    start: float | None
    end: float | None
    text: str


@dataclass(frozen=True, slots=True)
class ParsedTranscript:
    format: TranscriptFormat
    utterances: tuple[Utterance, ...]
    participants: tuple[str, ...]
    content_hash: str
    language: str
    speaker_emails: dict[str, str]
    """Speaker -> email (lower case), where the format carries one (JSON's optional "email")."""


class TranscriptParseError(ValueError):
    """Keeps the location apart from the message so API layers can point at the offending line.

    `unit` is "line" for text positions and "item" for JSON array elements; str() reads
    "line 7: expected 'Speaker: text'" or "item 3: text must be a string".
    """

    def __init__(self, line: int | None, message: str, *, unit: str = "line") -> None:
        self.line = line
        self.message = message
        self.unit = unit
        super().__init__(message if line is None else f"{unit} {line}: {message}")


class TranscriptTooLarge(TranscriptParseError):
    """The input exceeds the configured size limit; it was not parsed at all."""


class _Draft(NamedTuple):
    speaker: str
    start: float | None
    end: float | None
    text: str
    email: str | None = None


_VTT_HEADER = re.compile(r"WEBVTT(?:[ \t].*)?")
_VTT_SKIPPED_BLOCK = re.compile(r"(?:NOTE|STYLE|REGION)(?:[ \t]|$)")
_JSON_START = re.compile(r"\[\s*[{\]]|\{")
_SRT_START = re.compile(r"\d+[ \t]*\n[^\n]*-->")

_TIMESTAMP = re.compile(r"(?:(\d+):)?(\d{1,2}):(\d{2})(?:[.,](\d{1,3}))?")
_CUE_TIMING = re.compile(r"(\S+)[ \t]+-->[ \t]+(\S+)(?:[ \t].*)?")
# Only digit-and-colon brackets count as timestamps so "[laughs]" stays text.
_BRACKETED_TIMESTAMP = re.compile(r"\[(?P<stamp>\d+:[^\]]*)\][ \t]*(?P<rest>.*)")
_BARE_TIMESTAMP = re.compile(r"(?P<stamp>\d+:\d{2}(?::\d{2})?(?:[.,]\d{1,3})?)[ \t]+(?P<rest>.*)")
# Names start with a letter and exclude sentence punctuation, so "Well, the plan: ..." and
# "see https://..." remain continuation text rather than new speakers.
_SPEAKER_PREFIX = re.compile(r"(?P<speaker>[^\W\d_][\w .'’()&/-]{0,39}?)[ \t]*:(?:[ \t]+(?P<text>.*))?")
_MAX_SPEAKER_WORDS = 4
_NAME_PARTICLES = frozenset("de da del della der den di du la le van von bin al y dos das ten ter".split())
_VOICE_TAG = re.compile(r"<v(?:\.[^\s>]*)?(?:[ \t]+([^>]*))?>", re.IGNORECASE)
_MARKUP_TAG = re.compile(r"<[^>]*>")
_UNKNOWN_SPEAKER = "Unknown"
# A call is not a day long: larger times are export bugs (or attacks), not calls to store and prompt with.
MAX_TIMESTAMP_SECONDS = 24 * 3600
_MAX_HOUR_DIGITS = len(str(MAX_TIMESTAMP_SECONDS // 3600))
MAX_SPEAKER_LENGTH = 200  # the width of the participants column
_EXPECTED_TIMING = "expected cue timing 'start --> end'"

_JSON_FIELDS = ("speaker", "start", "end", "text")
_EMAIL = re.compile(r"[^@\s\x00-\x1f]{1,64}@[^@\s\x00-\x1f]{1,253}\.[^@\s\x00-\x1f.]{1,63}")
_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
# Wider than any 64-bit integer an exporter writes. Longer digit runs are read as floats: int() refuses
# more than 4,300 digits, while a float keeps the magnitude for the range check to report with the item.
_MAX_JSON_INT_DIGITS = 20

# Frequent function words, favouring ones that are distinctive for their language.
_STOPWORDS: dict[str, frozenset[str]] = {
    language: frozenset(words.split())
    for language, words in (
        ("en", "the and is are you that this with have for what was we it's don't i'm can will of to our"),
        ("de", "der die das und ist nicht ich wir sie ein eine mit auf für zu den dem auch haben wie aber"),
        ("fr", "le les et est je nous vous pas une des que pour avec c'est dans ce sur qui mais très on au"),
        ("es", "el los las y es que por para una con no lo pero está muy usted nosotros se del al como más"),
        ("pt", "o os as e é não uma com para que você nós mas está isso muito do da em um no na vocês então"),
        ("it", "il gli e è non che per una con sono questo mi ci ma anche della di un lo la molto noi siamo"),
        ("nl", "de het een en is niet ik wij we je van dat met voor op zijn ook maar hebben wat dit er naar"),
    )
}
_LANGUAGES_OF_WORD = {
    word: tuple(language for language, words in _STOPWORDS.items() if word in words)
    for words in _STOPWORDS.values()
    for word in words
}
_DEFAULT_LANGUAGE = "en"
_LANGUAGE_SAMPLE_WORDS = 5000
_LANGUAGE_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def detect_format(text: str) -> TranscriptFormat:
    """Guess from the opening lines only; a wrong guess surfaces as a parse error naming the line."""
    head = _normalize_newlines(text).lstrip()
    if _VTT_HEADER.fullmatch(head.partition("\n")[0].rstrip()):
        return TranscriptFormat.WEBVTT
    if _JSON_START.match(head):
        return TranscriptFormat.JSON
    if _SRT_START.match(head):
        return TranscriptFormat.SRT
    return TranscriptFormat.PLAIN


def parse_transcript(
    text: str, fmt: TranscriptFormat | None = None, *, max_bytes: int | None = None
) -> ParsedTranscript:
    """Parse `text`, auto-detecting the format unless `fmt` is given.

    The size check runs first so an oversized upload is rejected before any parsing work.
    """
    if max_bytes is not None:
        size = len(text.encode("utf-8"))
        if size > max_bytes:
            raise TranscriptTooLarge(None, _size_message(size, max_bytes))
    body = _normalize_newlines(text)
    normalized = body.strip()
    if not normalized:
        raise TranscriptParseError(None, "transcript is empty")
    detected = detect_format(body)
    chosen = detected if fmt is None else TranscriptFormat(fmt)
    try:
        drafts = _PARSERS[chosen](body)
    except TranscriptParseError as exc:
        if chosen == detected:
            raise
        hint = f"{exc.message} (the text looks like {detected}, not {chosen})"
        raise TranscriptParseError(exc.line, hint, unit=exc.unit) from exc
    utterances = _finalize(drafts)
    emails = {" ".join(d.speaker.split()): d.email for d in reversed(drafts) if d.email}
    if not utterances:
        raise TranscriptParseError(None, "transcript contains no utterances")
    return ParsedTranscript(
        format=chosen,
        utterances=utterances,
        participants=tuple(dict.fromkeys(u.speaker for u in utterances)),
        content_hash=hashlib.sha256(normalized.encode("utf-8")).hexdigest(),
        language=_guess_language(u.text for u in utterances),
        speaker_emails={
            speaker: emails[speaker] for speaker in dict.fromkeys(u.speaker for u in utterances) if speaker in emails
        },
    )


def _normalize_newlines(text: str) -> str:
    """Line numbers must match what the user sees, so only newline style and a BOM change."""
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _size_message(size: int, limit: int) -> str:
    """Use the largest unit in which the two sizes still read differently."""
    for unit, scale in (("MB", 1_000_000), ("KB", 1_000)):
        shown, allowed = f"{size / scale:.1f}", f"{limit / scale:.1f}"
        if limit >= scale and shown != allowed:
            return f"transcript is {shown} {unit}; the limit is {allowed} {unit}"
    return f"transcript is {size:,} bytes; the limit is {limit:,} bytes"


def _finalize(drafts: Iterable[_Draft]) -> tuple[Utterance, ...]:
    """Whitespace-normalize and drop empty turns (e.g. tag-only cues): they carry nothing to analyse."""
    tidy = (d._replace(speaker=" ".join(d.speaker.split()), text=" ".join(d.text.split())) for d in drafts)
    return tuple(Utterance(i, *draft[:4]) for i, draft in enumerate(d for d in tidy if d.text))


def _parse_timestamp(raw: str, line: int) -> float:
    match = _TIMESTAMP.fullmatch(raw)
    if match is None:
        raise TranscriptParseError(line, f"bad timestamp {raw!r}")
    hours, minutes, seconds, fraction = match.groups()
    if int(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
        raise TranscriptParseError(line, f"bad timestamp {raw!r}")
    hour_digits = (hours or "").lstrip("0")
    if len(hour_digits) > _MAX_HOUR_DIGITS:  # int() would refuse over 4,300 digits, leading zeros included
        raise _beyond_a_day(raw, line)
    value = float(int(hour_digits or 0) * 3600 + int(minutes) * 60 + int(seconds))
    if value > MAX_TIMESTAMP_SECONDS:
        raise _beyond_a_day(raw, line)
    return value + (int(fraction) / 10 ** len(fraction) if fraction else 0.0)


def _beyond_a_day(raw: str, line: int) -> TranscriptParseError:
    return TranscriptParseError(
        line, f"timestamp {raw!r} is more than {MAX_TIMESTAMP_SECONDS // 3600} hours into the call"
    )


def _parse_cue_timing(line_no: int, line: str) -> tuple[float, float]:
    match = _CUE_TIMING.fullmatch(line)
    if match is None:
        raise TranscriptParseError(line_no, f"{_EXPECTED_TIMING}, got {line!r}")
    start = _parse_timestamp(match[1], line_no)
    end = _parse_timestamp(match[2], line_no)
    if end < start:
        raise TranscriptParseError(line_no, f"cue ends before it starts ({match[1]} --> {match[2]})")
    return start, end


def _speaker_prefix(line: str) -> tuple[str, str] | None:
    match = _SPEAKER_PREFIX.fullmatch(line)
    if match is None or not _looks_like_name(match["speaker"]):
        return None
    return match["speaker"], match["text"] or ""


def _looks_like_name(speaker: str) -> bool:
    """Multi-word names must be title-cased so prose like "Let's talk pricing: ..." is not a speaker.

    Single words pass regardless of case because exports often label turns "agent:" / "customer:".
    """
    words = speaker.split()
    if len(words) == 1:
        return True
    return len(words) <= _MAX_SPEAKER_WORDS and all(
        word[0].isupper() or word[0] in "(&" or word[0].isdigit() or (i and word in _NAME_PARTICLES)
        for i, word in enumerate(words)
    )


def _split_plain_timestamp(line: str) -> tuple[str | None, str]:
    """A bare leading time only counts when a speaker follows, so "10:30 works for me" stays text."""
    if match := _BRACKETED_TIMESTAMP.fullmatch(line):
        return match["stamp"], match["rest"]
    if (match := _BARE_TIMESTAMP.fullmatch(line)) and _speaker_prefix(match["rest"]):
        return match["stamp"], match["rest"]
    return None, line


def _parse_plain(body: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for line_no, raw in enumerate(body.split("\n"), 1):
        line = raw.strip()
        if not line:
            continue
        stamp, rest = _split_plain_timestamp(line)
        start = None if stamp is None else _parse_timestamp(stamp, line_no)
        prefix = _speaker_prefix(rest)
        if prefix is not None:
            drafts.append(_Draft(prefix[0], start, None, prefix[1]))
        elif stamp is not None:
            raise TranscriptParseError(line_no, "expected 'Speaker: text' after the timestamp")
        elif drafts:
            drafts[-1] = drafts[-1]._replace(text=f"{drafts[-1].text} {line}")
        else:
            raise TranscriptParseError(line_no, "expected 'Speaker: text'")
    return drafts


def _blocks(body: str) -> Iterator[list[tuple[int, str]]]:
    """Yield blank-line separated blocks of (line number, stripped line)."""
    block: list[tuple[int, str]] = []
    for line_no, raw in enumerate(body.split("\n"), 1):
        if line := raw.strip():
            block.append((line_no, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def _strip_markup(text: str) -> str:
    return html.unescape(_MARKUP_TAG.sub("", text)).strip()


def _cue_turns(lines: list[tuple[int, str]], start: float, end: float) -> list[_Draft]:
    """Split cue text into speaker turns sharing the cue timing.

    A voice tag or a "Speaker:" line prefix starts a turn; once a cue uses voice tags,
    colons inside it are ordinary text ("<v Ann>Note: ...").
    """
    turns: list[tuple[str | None, list[str]]] = []

    def add(speaker: str | None, text: str) -> None:
        if turns and (speaker is None or speaker == turns[-1][0]):
            turns[-1][1].append(text)
        else:
            turns.append((speaker, [text]))

    voiced = False
    for line_no, line in lines:
        if "-->" in line:  # two cues glued together would otherwise become one cue's text
            raise TranscriptParseError(line_no, "expected a blank line before the next cue")
        pieces = _VOICE_TAG.split(line)
        if lead := _strip_markup(pieces[0]):
            prefix = None if voiced else _speaker_prefix(lead)
            speaker, text = prefix if prefix else (None, lead)
            add(speaker, text)
        for name, text in zip(pieces[1::2], pieces[2::2], strict=True):
            voiced = True
            speaker = " ".join((name or "").split()) or _UNKNOWN_SPEAKER
            if len(speaker) > MAX_SPEAKER_LENGTH:
                raise TranscriptParseError(line_no, f"speaker name longer than {MAX_SPEAKER_LENGTH} characters")
            add(speaker, _strip_markup(text))
    return [_Draft(speaker or _UNKNOWN_SPEAKER, start, end, " ".join(texts)) for speaker, texts in turns]


def _parse_webvtt(body: str) -> list[_Draft]:
    blocks = _blocks(body)
    header = next(blocks)
    header_line, header_text = header[0]
    if not _VTT_HEADER.fullmatch(header_text):
        raise TranscriptParseError(header_line, "expected 'WEBVTT' header")
    for line_no, line in header[1:]:
        if "-->" in line:
            raise TranscriptParseError(line_no, "expected a blank line after the WEBVTT header")
    drafts: list[_Draft] = []
    for block in blocks:
        if _VTT_SKIPPED_BLOCK.match(block[0][1]):
            continue
        if "-->" not in block[0][1]:  # the first line is a cue identifier
            if len(block) < 2 or "-->" not in block[1][1]:
                line_no = block[1][0] if len(block) > 1 else block[0][0]
                raise TranscriptParseError(line_no, _EXPECTED_TIMING)
            block = block[1:]
        start, end = _parse_cue_timing(*block[0])
        drafts.extend(_cue_turns(block[1:], start, end))
    return drafts


def _parse_srt(body: str) -> list[_Draft]:
    drafts: list[_Draft] = []
    for (number_line, number), *rest in _blocks(body):
        if not (number.isascii() and number.isdigit()):
            raise TranscriptParseError(number_line, f"expected a cue number, got {number!r}")
        if not rest:
            raise TranscriptParseError(number_line, f"{_EXPECTED_TIMING} after the cue number")
        start, end = _parse_cue_timing(*rest[0])
        drafts.extend(_cue_turns(rest[1:], start, end))
    return drafts


def _json_type(value: Any) -> str:
    return "null" if value is None else _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _parse_json(body: str) -> list[_Draft]:
    try:
        data = json.loads(body, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise TranscriptParseError(exc.lineno, f"invalid JSON: {exc.msg} (column {exc.colno})") from None
    except RecursionError:
        raise TranscriptParseError(None, "invalid JSON: nested too deeply") from None
    if not isinstance(data, list):
        raise TranscriptParseError(None, f"expected a JSON list of utterance objects, got {_json_type(data)}")
    return [_json_draft(number, item) for number, item in enumerate(data, 1)]


def _json_int(digits: str) -> int | float:
    return int(digits) if len(digits) <= _MAX_JSON_INT_DIGITS else float(digits)


def _json_draft(number: int, item: Any) -> _Draft:
    def fail(message: str) -> TranscriptParseError:
        return TranscriptParseError(number, message, unit="item")

    if not isinstance(item, dict):
        raise fail(f"expected an object with {', '.join(_JSON_FIELDS)}, got {_json_type(item)}")
    if missing := [field for field in _JSON_FIELDS if field not in item]:
        raise fail(f"missing {', '.join(missing)}")
    speaker, text = item["speaker"], item["text"]
    if not isinstance(speaker, str) or not speaker.strip():
        raise fail(f"speaker must be a non-empty string, got {_json_type(speaker)}")
    if len(" ".join(speaker.split())) > MAX_SPEAKER_LENGTH:
        raise fail(f"speaker must be at most {MAX_SPEAKER_LENGTH} characters")
    if not isinstance(text, str):
        raise fail(f"text must be a string, got {_json_type(text)}")
    for field, value in (("speaker", speaker), ("text", text)):
        # JSON escapes such as "\u0000" decode only here, after the GraphQL text guard saw six harmless characters
        if reason := unstorable_reason(value):
            raise fail(f"{field} contains {reason}")
    start, end = (_json_seconds(item[field], field, fail) for field in ("start", "end"))
    if start is not None and end is not None and end < start:
        raise fail(f"end ({end}) is before start ({start})")
    return _Draft(speaker, start, end, text, _json_email(item.get("email"), fail))


def _json_email(value: Any, fail: Callable[[str], TranscriptParseError]) -> str | None:
    """The optional "email" of a speaker: how their person is found before their name is tried."""
    if value is None:
        return None
    if not isinstance(value, str) or not _EMAIL.fullmatch(value.strip()):
        raise fail(f"email must be an address like 'dana@acme.example' or null, got {value!r:.80}")
    return value.strip().lower()


def _json_seconds(value: Any, field: str, fail: Callable[[str], TranscriptParseError]) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise fail(f"{field} must be a number of seconds or null, got {_json_type(value)}")
    if not math.isfinite(value) or not 0 <= value <= MAX_TIMESTAMP_SECONDS:
        raise fail(f"{field} must be between 0 and {MAX_TIMESTAMP_SECONDS} seconds, got {value}")
    return float(value)


_PARSERS: dict[TranscriptFormat, Callable[[str], list[_Draft]]] = {
    TranscriptFormat.PLAIN: _parse_plain,
    TranscriptFormat.WEBVTT: _parse_webvtt,
    TranscriptFormat.SRT: _parse_srt,
    TranscriptFormat.JSON: _parse_json,
}


def _guess_language(texts: Iterable[str]) -> str:
    """Count stopwords per language; a tie or no evidence falls back to English."""
    words = (m[0] for text in texts for m in _LANGUAGE_WORD.finditer(text.casefold().replace("’", "'")))
    sample = islice(words, _LANGUAGE_SAMPLE_WORDS)
    scores = Counter(lang for word in sample for lang in _LANGUAGES_OF_WORD.get(word, ()))
    ranked = scores.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return _DEFAULT_LANGUAGE
    return ranked[0][0]
