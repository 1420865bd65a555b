"""Verify evidence quotes returned by analysis agents against the original transcript.

Users see these quotes as proof of what a buyer said, so a quote that is not in the call
is reported as unverified instead of being attached to a plausible-looking utterance.
Models quote from the cleaned prompt (see `render_for_prompt`), so both sides are
normalized with the same filler cleaning before comparing.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from itertools import pairwise

from dealgraph.transcripts.formats import Utterance
from dealgraph.transcripts.preprocess import clean_utterance_text


@dataclass(frozen=True, slots=True)
class EvidenceMatch:
    """Where a quote was found; `start`/`end` cover every utterance the quote touches."""

    quote: str
    verified: bool
    score: float
    utterance_index: int | None
    speaker: str | None
    start: float | None
    end: float | None


_APOSTROPHE = re.compile(r"['’ʼ]")
# "40,000" and "40000" are the same number; punctuation stripping alone would split it in two.
_DIGIT_GROUP_SEPARATOR = re.compile(r"(?<=\d)[,.](?=\d{3}(?!\d))")
_TOKEN = re.compile(r"\w+")
_QUOTE_MARKS = "\"'“”‘’«»"
# Models often copy the whole prompt line: "[12 03:05] Alice: ...".
_PROMPT_PREFIX = re.compile(r"\s*\[(\d+) (?:\d+:)?(?:\d{2}|--):(?:\d{2}|--)\]\s*")
_SPEAKER_PREFIX = re.compile(r"([^:\n]{1,60}?)\s*:\s+")
_NEGATIONS = frozenset(
    "not no never nothing none nor neither dont doesnt didnt cant cannot wont wouldnt shouldnt couldnt"
    " isnt arent wasnt werent havent hasnt hadnt".split()
)
_CANDIDATE_REGIONS = 5
_ALIGNMENTS_PER_REGION = 2
# Words a quote may drop or add relative to the transcript and still be aligned as one window.
_MAX_WORD_SHIFT = 3
# Below this share of the quote's distinct words a region cannot reach a useful similarity.
_MIN_WORD_COVERAGE = 0.5

_Span = tuple[int, int]  # [first word, end word) in the transcript-wide word list


def _normalize(text: str) -> str:
    """Casefolded words only, after the same filler cleaning the prompt used."""
    cleaned = clean_utterance_text(unicodedata.normalize("NFKC", text)).casefold()
    cleaned = _DIGIT_GROUP_SEPARATOR.sub("", _APOSTROPHE.sub("", cleaned))
    return " ".join(_TOKEN.findall(cleaned))


def _pairs(words: Sequence[str]) -> list[str]:
    return [f"{a} {b}" for a, b in pairwise(words)]


def _critical_words(words: Sequence[str]) -> Counter[str]:
    """Words a fuzzy match must reproduce exactly: "we will not sign" or "$30,000" is no
    evidence for "we will sign" or "$20,000", however similar the characters are."""
    return Counter(w for w in words if w in _NEGATIONS or any(c.isdigit() for c in w))


class _QuoteScorer:
    """Per-quote difflib state: the quote is seq2 so its lookup tables are built only once."""

    def __init__(self, normalized: str) -> None:
        self.words = normalized.split()
        self.critical = _critical_words(self.words)
        self.word_matcher = SequenceMatcher(None, autojunk=False)
        self.word_matcher.set_seq2(self.words)
        self.char_matcher = SequenceMatcher(None, autojunk=False)
        self.char_matcher.set_seq2(normalized)


class EvidenceLocator:
    """Locates quotes in one transcript; build once per analysis, the index is reused for every quote."""

    def __init__(self, utterances: Sequence[Utterance], threshold: float = 0.85) -> None:
        if not 0 < threshold <= 1:
            raise ValueError(f"threshold must be in (0, 1], got {threshold}")
        self._utterances = tuple(utterances)
        self._threshold = threshold
        self._position_of_index = {u.index: pos for pos, u in enumerate(self._utterances)}
        self._speaker_names = {u.speaker.casefold(): u.speaker for u in self._utterances}
        self._words: list[str] = []
        self._owner: list[int] = []  # utterance position of each word
        self._first_word: list[int] = []  # per utterance, plus a final sentinel
        self._vocabulary: list[frozenset[str]] = []
        for pos, utterance in enumerate(self._utterances):
            words = _normalize(utterance.text).split()
            self._first_word.append(len(self._words))
            self._words.extend(words)
            self._owner.extend([pos] * len(words))
            self._vocabulary.append(frozenset(words))
        self._first_word.append(len(self._words))
        self._postings = _postings(self._words, self._owner, self._vocabulary)
        self._idf = {term: math.log(1 + len(self._utterances) / len(p)) for term, p in self._postings.items()}
        text = " ".join(self._words)
        self._padded_text = f" {text} "
        self._word_offsets = [m.start() for m in re.finditer(r"\S+", text)]

    def locate(self, quote: str, hint_index: int | None = None) -> EvidenceMatch:
        """Exact (normalized) match first, then fuzzy; `hint_index` is the model's utterance index."""
        body, hint_index, speaker = self._strip_prefixes(quote, hint_index)
        normalized = _normalize(body)
        if not normalized:
            return _unverified(quote, 0.0)
        hint = self._position_of_index.get(hint_index) if hint_index is not None else None
        if span := self._exact(normalized, hint, speaker):
            return self._match(quote, 1.0, span)
        score, span = self._fuzzy(_QuoteScorer(normalized), hint)
        if span is None or score < self._threshold:
            return _unverified(quote, score)
        return self._match(quote, score, span)

    def _strip_prefixes(self, quote: str, hint_index: int | None) -> tuple[str, int | None, str | None]:
        """Drop a copied prompt prefix or a "Speaker:" label; the label is kept as a preference."""
        body = quote.strip().strip(_QUOTE_MARKS)
        if match := _PROMPT_PREFIX.match(body):
            body = body[match.end() :]
            hint_index = int(match[1]) if hint_index is None else hint_index
        match = _SPEAKER_PREFIX.match(body)
        speaker = self._speaker_names.get(" ".join(match[1].split()).casefold()) if match else None
        if match and speaker:
            body = body[match.end() :]
        return body, hint_index, speaker

    def _exact(self, normalized: str, hint: int | None, speaker: str | None) -> _Span | None:
        """Whole-word search over all utterances joined, so a match may span a speaker turn."""
        needle = f" {normalized} "
        length = normalized.count(" ") + 1
        best: tuple[tuple[bool, int, int], _Span] | None = None
        at = self._padded_text.find(needle)
        while at != -1:
            first = bisect_right(self._word_offsets, at) - 1
            span = (first, first + length)
            key = self._preference(span, hint, speaker)
            if best is None or key < best[0]:
                best = (key, span)
            at = self._padded_text.find(needle, at + 1)
        return best[1] if best else None

    def _preference(self, span: _Span, hint: int | None, speaker: str | None) -> tuple[bool, int, int]:
        """Sort key among equal matches: labelled speaker, then nearness to the hint, then earliest."""
        first, last = self._owner[span[0]], self._owner[span[1] - 1]
        distance = 0 if hint is None else max(first - hint, hint - last, 0)
        said_by = self._utterances[self._main_utterance(span)].speaker
        wrong_speaker = speaker is not None and said_by != speaker
        return wrong_speaker, distance, span[0]

    def _fuzzy(self, scorer: _QuoteScorer, hint: int | None) -> tuple[float, _Span | None]:
        """Best window over the hint's neighbourhood and the prefilter's candidates.

        The hint goes first so it wins ties, but it does not end the search: a model that
        cites the wrong turn ("end of May" for a quote about March) must not get a near miss.
        """
        best: tuple[float, _Span | None] = (0.0, None)
        for first, stop in self._regions(scorer, hint):
            best = self._best_window(scorer, first, stop, best)
        return best

    def _regions(self, scorer: _QuoteScorer, hint: int | None) -> Iterator[tuple[int, int]]:
        """Utterance ranges [first, stop): around the model's hint, then prefilter candidates."""
        if hint is not None:
            yield hint - 1, hint + 2
        for first in self._candidate_regions(scorer.words):
            yield first, first + 2

    def _candidate_regions(self, words: list[str]) -> list[int]:
        """Cheap prefilter: rank adjacent utterance pairs by shared rare word pairs before running difflib.

        Single words are the fallback for quotes too short or too garbled to share a pair.
        """
        weight = self._term_weights(_pairs(words)) or self._term_weights(words)
        firsts = {first for pos in weight for first in (pos - 1, pos) if first >= 0}
        ranked = heapq.nlargest(
            _CANDIDATE_REGIONS, firsts, key=lambda first: weight.get(first, 0.0) + weight.get(first + 1, 0.0)
        )
        distinct = set(words)
        return [first for first in ranked if self._coverage(distinct, first) >= _MIN_WORD_COVERAGE]

    def _term_weights(self, terms: Iterable[str]) -> dict[int, float]:
        weight: dict[int, float] = {}
        for term in set(terms) & self._idf.keys():
            idf = self._idf[term]
            for pos in self._postings[term]:
                weight[pos] = weight.get(pos, 0.0) + idf
        return weight

    def _coverage(self, distinct: set[str], first: int) -> float:
        covered = self._vocabulary[first].union(*self._vocabulary[first + 1 : first + 2])
        return len(distinct & covered) / len(distinct)

    def _best_window(
        self, scorer: _QuoteScorer, first: int, stop: int, best: tuple[float, _Span | None]
    ) -> tuple[float, _Span | None]:
        """Best window within utterances [first, stop) that beats `best`.

        A word-level alignment proposes windows (tolerating dropped or added words); only
        those few windows get the costlier character-level similarity, which absorbs typos.
        """
        lo = self._first_word[max(first, 0)]
        hi = self._first_word[min(stop, len(self._utterances))]
        if lo >= hi:
            return best
        scorer.word_matcher.set_seq1(self._words[lo:hi])
        blocks = [block for block in scorer.word_matcher.get_matching_blocks() if block.size]
        diagonals: Counter[int] = Counter()
        for block in blocks:
            diagonals[block.a - block.b] += block.size
        quote_length = len(scorer.words)
        matcher = scorer.char_matcher
        for diagonal, _ in diagonals.most_common(_ALIGNMENTS_PER_REGION):
            aligned = [b for b in blocks if abs(b.a - b.b - diagonal) <= _MAX_WORD_SHIFT]
            start = lo + max(aligned[0].a - aligned[0].b, 0)
            end = lo + min(aligned[-1].a + quote_length - aligned[-1].b, hi - lo)
            window = self._words[start:end]
            matcher.set_seq1(" ".join(window))
            if matcher.real_quick_ratio() <= best[0] or matcher.quick_ratio() <= best[0]:
                continue
            score = matcher.ratio()
            if score > best[0] and _critical_words(window) == scorer.critical:
                best = (score, (start, end))
        return best

    def _main_utterance(self, span: _Span) -> int:
        """The utterance holding most of the quote's words (the earlier one on a tie)."""
        return Counter(self._owner[span[0] : span[1]]).most_common(1)[0][0]

    def _match(self, quote: str, score: float, span: _Span) -> EvidenceMatch:
        main = self._utterances[self._main_utterance(span)]
        return EvidenceMatch(
            quote=quote,
            verified=True,
            score=score,
            utterance_index=main.index,
            speaker=main.speaker,
            start=self._utterances[self._owner[span[0]]].start,
            end=self._utterances[self._owner[span[1] - 1]].end,
        )


def _postings(words: Sequence[str], owner: Sequence[int], vocabulary: Sequence[frozenset[str]]) -> dict[str, list[int]]:
    """Utterance positions per word and per adjacent word pair.

    Pairs (also across a turn boundary) find the right region far better than single words,
    which in a long call occur almost everywhere.
    """
    terms = [set(words_of_utterance) for words_of_utterance in vocabulary]
    for k, pair in enumerate(_pairs(words)):
        terms[owner[k]].add(pair)
    postings: dict[str, list[int]] = {}
    for pos, utterance_terms in enumerate(terms):
        for term in utterance_terms:
            postings.setdefault(term, []).append(pos)
    return postings


def _unverified(quote: str, score: float) -> EvidenceMatch:
    return EvidenceMatch(quote, False, score, None, None, None, None)


def locate_quote(
    quote: str, utterances: Sequence[Utterance], *, hint_index: int | None = None, threshold: float = 0.85
) -> EvidenceMatch:
    """One-off lookup; use EvidenceLocator when verifying several quotes against one transcript."""
    return EvidenceLocator(utterances, threshold).locate(quote, hint_index)
