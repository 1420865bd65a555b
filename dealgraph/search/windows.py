"""Utterance windows: what gets embedded. A short "yes, that works" means nothing alone, so each
utterance is embedded with its neighbours; the window keeps the centre utterance's position, speaker
and start so a hit links to the exact moment, like a keyword hit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Spoken:
    position: int
    speaker: str
    start: float | None
    text: str


@dataclass(frozen=True, slots=True)
class Window:
    position: int
    speaker: str
    start: float | None
    text: str


def windows(utterances: Sequence[Spoken], neighbours: int) -> list[Window]:
    """One window per utterance: the utterance itself, then `neighbours` turns before and after.

    The centre goes first so a model that truncates long input still sees the utterance that the hit names.
    """
    ordered = sorted(utterances, key=lambda u: u.position)
    out: list[Window] = []
    for i, centre in enumerate(ordered):
        around = ordered[max(0, i - neighbours) : i] + ordered[i + 1 : i + 1 + neighbours]
        context = " ".join(f"{u.speaker}: {u.text}" for u in around)
        text = f"{centre.speaker}: {centre.text}" + (f" | {context}" if context else "")
        out.append(Window(centre.position, centre.speaker, centre.start, text))
    return out
