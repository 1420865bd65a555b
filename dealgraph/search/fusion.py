"""Reciprocal rank fusion: merge rankings by position alone, so full-text ranks and cosine
similarities (different, incomparable scales) never have to be calibrated against each other."""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
RRF_K = 60  # the constant from Cormack et al. (2009): damps the head of each list


@dataclass(slots=True)
class Fused(Generic[K]):
    key: K
    score: float = 0.0
    signals: list[str] = field(default_factory=list)


def reciprocal_rank_fusion(rankings: Mapping[str, Sequence[K]], k: int = RRF_K) -> list[Fused[K]]:
    """Score = sum over rankings of 1 / (k + rank); ties keep the first ranking's order."""
    fused: dict[K, Fused[K]] = {}
    for signal, ranking in rankings.items():
        for rank, key in enumerate(ranking, start=1):
            entry = fused.setdefault(key, Fused(key))
            entry.score += 1.0 / (k + rank)
            entry.signals.append(signal)
    return sorted(fused.values(), key=lambda f: -f.score)
