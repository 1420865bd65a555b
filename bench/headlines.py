"""What `bench.before_after` runs of each benchmark and which figures it reads back from the output.

Each benchmark prints its results as text meant for a reader; a figure here is a regular expression over that
text whose first group is the number, and every match counts (a bench that prints a line per round or per
server gives one value per line). The arguments keep each run short enough that nine benchmarks, both trees
and two rounds fit in about half an hour on two cores; `before` holds the spelling of the tree before the
renovation where an option was renamed since (`--workers` became `--api-processes`, and its default, one,
is what both sides get by leaving it out).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NUMBER = r"(-?[\d,]+(?:\.\d+)?)"


@dataclass(frozen=True)
class Figure:
    name: str
    pattern: str
    """A regular expression (multi-line) with `{n}` where each number stands; every number of every match counts."""

    def values(self, output: str) -> list[str]:
        found = re.findall(self.pattern.replace("{n}", _NUMBER), output, flags=re.MULTILINE)
        return [value for match in found for value in ((match,) if isinstance(match, str) else match)]


@dataclass(frozen=True)
class Bench:
    name: str
    args: tuple[str, ...]
    figures: tuple[Figure, ...]
    before: tuple[str, ...] | None = None
    """The earlier tree's arguments when they differ from `args`."""
    env: dict[str, str] = field(default_factory=dict)

    def args_for(self, side: str) -> tuple[str, ...]:
        return self.before if side == "before" and self.before is not None else self.args


def _latency() -> Bench:
    return Bench(
        "analysis_latency",
        ("--runs", "10"),
        (
            Figure("time to the first result, p50 / ms", r"time to first result \(first AgentSucceeded\)\s+{n} ms"),
            Figure("time to completion, p50 / ms", r"time to completion \(AnalysisFinished\)\s+{n} ms"),
            Figure("time to completion, p95 / ms", r"time to completion \(AnalysisFinished\)\s+\d+ ms\s+{n} ms"),
            Figure("orchestration overhead, p50 / ms", r"orchestration overhead \(median completion - max\)\s+{n} ms"),
            *(
                Figure(f"{agent}: result after its stand-in latency, p50 / ms", rf"^\s*{agent}\s+\d+ ms\s+{{n}} ms$")
                for agent in ("meeting_intelligence", "action_items", "stakeholders", "meddpicc")
            ),
        ),
    )


def _throughput() -> Bench:
    batches = ("50", "200")
    per_batch = tuple(
        figure
        for count in batches
        for figure in (
            Figure(f"{count} at once: analyses/s", rf"^\s*{count} analyses at once:\s+{{n}} analyses/s"),
            Figure(
                f"{count} at once: server CPU per agent run / ms", rf"{count} analyses at once:.*server CPU\s+{{n}} ms"
            ),
            Figure(
                f"{count} at once: database transactions per analysis",
                rf"{count} analyses at once:.*\s{{n}} database transactions per analysis",
            ),
            Figure(f"{count} at once: not succeeded", rf"{count} analyses at once:.*\s{{n}} not succeeded"),
        )
    )
    return Bench(
        "analysis_throughput",
        ("--database", "local", "--single-runs", "20", "--batches", *batches),
        (
            Figure("one at a time: overhead over the slowest agent, p50 / ms", r"slowest agent p50 {n} ms"),
            Figure("one at a time: server CPU per analysis / ms", r"one analysis at a time.*server CPU {n} ms"),
            *per_batch,
        ),
    )


def _cache_sharing() -> Bench:
    figures = []
    for strategy in ("parallel", "leader"):
        figures += [
            Figure(f"{strategy}: {column}", rf"^{strategy}\s+(?:\d+ ms\s+){{{skip}}}{{n}} ms")
            for skip, column in enumerate(("first result p50 / ms", "total p50 / ms"))
        ]
        figures += [
            Figure(f"{strategy}: {column}", rf"^{strategy}\s+(?:\d+ ms\s+){{2}}(?:\d+\s+){{{skip}}}{{n}}")
            for skip, column in enumerate(("input tokens", "cache write tokens", "cache read tokens"))
        ]
        figures.append(Figure(f"{strategy}: input cost per analysis / $", rf"^{strategy}\s.*\${{n}}"))
    return Bench("cache_sharing", ("--rounds", "1", "--runs", "5"), tuple(figures))


def _embedder() -> Bench:
    return Bench(
        "embedder_recall",
        ("--model", "wordllama"),
        tuple(
            Figure(f"window ±{window}: {column}", rf"^wordllama\s+{window}\s+(?:[\d.]+\s+){{{skip}}}{{n}}")
            for window in (0, 1)
            for skip, column in enumerate(("recall@5", "MRR", "windows/s"))
        ),
    )


def _fanout() -> Bench:
    return Bench(
        "fanout",
        ("--database", "local", "--subscribers", "1000", "--rounds", "1"),
        (
            Figure("subscribers connected and snapshotted / s", r"connected and snapshotted in\s+{n} s"),
            Figure("server CPU per subscriber connecting / ms", r"snapshotted in.*\(server CPU {n} ms"),
            Figure("server CPU per subscriber delivering its events / ms", r"to the last AnalysisFinished: {n} ms"),
            Figure("AgentSucceeded after the write, p50 / ms", r"^\s*result \(AgentSucceeded\).*p50\s+{n} ms"),
            Figure("AgentSucceeded after the write, p99 / ms", r"^\s*result \(AgentSucceeded\).*p99\s+{n} ms"),
            Figure("AnalysisFinished after the write, p99 / ms", r"^\s*AnalysisFinished after.*p99\s+{n} ms"),
            Figure("state events delivered (of 3,000)", r"state events delivered / expected\s+{n} /"),
            Figure("subscriptions failed", r"subscriptions that failed\s+{n}"),
            Figure("server RSS before subscribers / MB", r"server RSS before / with / after subscribers {n} /"),
            Figure("server RSS with subscribers / MB", r"server RSS before / with / after subscribers \d+ / {n}"),
        ),
    )


def _idle() -> Bench:
    return Bench(
        "idle_subscribers",
        ("--database", "local", "--subscribers", "4000", "--hold", "5", "--settle", "2"),
        (
            Figure("alive after the hold, per server and round (of 2,000)", r"alive after the hold \(ping/pong\) {n}/"),
            Figure("failed, per server and round", r"alive after the hold.*, failed {n}"),
            Figure("all snapshotted in / s", r"snapshotted \d+/\d+ in {n} s"),
            Figure("server RSS baseline, per server / MB", r"^baseline\s+{n}\s+{n}$"),
            Figure(
                "per subscriber, per server / KB", r"^per subscriber \(round 1, connected - baseline\): {n} / {n} KB"
            ),
        ),
    )


def _notify() -> Bench:
    return Bench(
        "notify_rate",
        ("--database", "local", "--seconds", "5"),
        (
            Figure("commits/s without NOTIFY", r"without NOTIFY\s+{n} commits/s"),
            Figure("commits/s with one NOTIFY each", r"with NOTIFY\s+{n} commits/s"),
        ),
    )


def _read() -> Bench:
    common = ("--postgres", "local", "--duration", "5", "--rounds", "2", "--warmup", "2")
    median = r"[\d.]+(?: \([^)]*\))?"  # a median, then (min-max) when there are rounds
    figures: list[Figure] = []
    for query, servers in (("deal-graph", ("dealgraph", "PostGraphile")), ("trivial", ("dealgraph", "PostGraphile"))):
        for server in servers:
            line = rf"^\s*round \d+\s+{query}\s+{server}\s+"
            figures += [
                Figure(f"{query}, {server}: req/s", line + r"{n} req/s"),
                Figure(f"{query}, {server}: server CPU per request / ms", line + r".*server CPU\s+{n} ms"),
            ]
        figures.append(
            Figure(
                f"{query}: req/s ratio dealgraph / PostGraphile",
                rf"^\s*{query} query.*\n\s*req/s\s+{median}\s+{median}\s+{{n}}",
            )
        )
    figures += [
        Figure("deal-graph, dealgraph: PostgreSQL CPU per request / ms", r"deal-graph dealgraph\s.*PG CPU\s+{n} ms"),
        Figure("deal-graph, dealgraph: statements per request", r"^\s*dealgraph deal-graph\s+(?:[\d.]+\s+){5}{n}"),
        Figure("errors (every round, server and query)", r"^\s*round \d+ .*errors {n}"),
    ]
    return Bench(
        "read_throughput",
        (*common, "--queries", "deal-graph", "trivial"),
        tuple(figures),
        before=common,  # measured deal-graph and trivial only; --queries came later
    )


def _search() -> Bench:
    # The earlier tree prints `| MODE | recall | MRR |`; the current one prints a row per floor, `none (before)`
    # first: the search as it was, before the relevance floor existed.
    figures = [
        Figure(
            f"{mode}: {column} (no floor)", rf"^\|(?: none \(before\) \|)? {mode} \| (?:[\d.]+ \| ){{{skip}}}{{n}} \|"
        )
        for mode in ("KEYWORD", "SEMANTIC", "HYBRID")
        for skip, column in enumerate(("recall@5", "MRR"))
    ]
    figures += [
        Figure("ingest, utterances/s embedded and stored", r"^ingest: {n} utterances/s"),
        Figure(
            "SEMANTIC: hits per unrelated question at the default floor", r"^\| 0\.\d+ \| SEMANTIC \| .* \| {n} \|$"
        ),
    ]
    return Bench("search_quality", (), tuple(figures))


BENCHES: dict[str, Bench] = {
    bench.name: bench
    for bench in (
        _latency(),
        _throughput(),
        _cache_sharing(),
        _embedder(),
        _fanout(),
        _idle(),
        _notify(),
        _read(),
        _search(),
    )
}
