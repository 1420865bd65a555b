"""The benchmarks of an earlier commit and of this tree, side by side in one run.

A comparison of two commits measured on different days says more about the shared machine's mood than about
the code: its speed swings by tens of percent between minutes. So each benchmark here runs alternately on the
earlier tree and on this one (before, after, before, after, ... for `--rounds` rounds), every run a subprocess
`python -m bench.<name>` with its working directory and PYTHONPATH set to its tree and the same interpreter,
and the table gives each figure's range over the rounds of each side. The earlier tree is checked out into a
temporary `git worktree add --detach`, removed at the end (and so is `--after`'s, when a later commit is
compared instead of this tree, to find where a figure moved). What each benchmark is given and which figures are
read back from its output is bench/headlines.py; `--args` / `--before-args NAME='...'` replace the arguments of
both sides or of the earlier tree only (an option renamed since, a bench that did not have one yet).

Every run's output is kept (`--out`: NAME.SIDE.ROUND.txt and .err, runs.json) with report.md, the table;
`--tabulate DIR` writes the table again from a run directory, with the figures as bench/headlines.py now reads them:

    .venv/bin/python -m bench.before_after --before 5b7a607 --rounds 2 --out /tmp/before-after
    .venv/bin/python -m bench.before_after --before 5b7a607 --only notify_rate fanout \\
        --args fanout='--database local --subscribers 200 --rounds 1'
    .venv/bin/python -m bench.before_after --tabulate /tmp/before-after

The benches that take neither `--database` nor `--postgres` use TEST_DATABASE_URL, which is set to
`--server-url` for every run (the PostgreSQL at 127.0.0.1:5432 unless given); search_quality always starts
an embedded PostgreSQL (it needs pgvector).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bench.headlines import BENCHES, Bench

ROOT = Path(__file__).resolve().parent.parent
SIDES = ("before", "after")
RECORD = "runs.json"


@dataclass(frozen=True)
class Run:
    bench: str
    side: str
    round: int
    returncode: int
    seconds: float
    load: float
    """The one-minute load average as the run started."""

    @property
    def stem(self) -> str:
        return f"{self.bench}.{self.side}.{self.round}"


def git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, text=True).stdout.strip()


@contextmanager
def commit_tree(commit: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="dealgraph-before-"))
    git("worktree", "add", "--detach", str(path), commit)
    try:
        yield path
    finally:
        git("worktree", "remove", "--force", str(path))


def run_once(bench: Bench, side: str, number: int, tree: Path, args: argparse.Namespace) -> Run:
    env = {key: value for key, value in os.environ.items() if key not in ("DATABASE_URL", "PYTHONPATH")}
    env |= {"PYTHONPATH": str(tree), "TEST_DATABASE_URL": args.server_url, **bench.env}
    command = [sys.executable, "-m", f"bench.{bench.name}", *bench.args_for(side)]
    stem = args.out / f"{bench.name}.{side}.{number}"
    load = os.getloadavg()[0]
    started = time.monotonic()
    with open(f"{stem}.txt", "w") as stdout, open(f"{stem}.err", "w") as stderr:
        try:
            code = subprocess.run(
                command, cwd=tree, env=env, stdout=stdout, stderr=stderr, timeout=args.timeout
            ).returncode
        except subprocess.TimeoutExpired:
            code = -1
    seconds = time.monotonic() - started
    print(f"{bench.name} {side} {number}: exit {code} in {seconds:.0f} s (load {load:.1f})", flush=True)
    return Run(bench.name, side, number, code, seconds, load)


def value_range(values: list[str]) -> str:
    if not values:
        return "—"
    numbers = sorted(values, key=lambda value: float(value.replace(",", "")))
    low, high = numbers[0], numbers[-1]
    return low if float(low.replace(",", "")) == float(high.replace(",", "")) else f"{low}–{high}"


def table(out: Path, names: list[str], runs: list[Run]) -> str:
    outputs = {run.stem: (out / f"{run.stem}.txt").read_text() for run in runs}
    rows = ["| benchmark | figure | before | after |", "|---|---|---|---|"]
    for name in names:
        for figure in BENCHES[name].figures:
            cells = [
                value_range(
                    [
                        v
                        for run in runs
                        if (run.bench, run.side) == (name, side)
                        for v in figure.values(outputs[run.stem])
                    ]
                )
                for side in SIDES
            ]
            rows.append(f"| {name} | {figure.name} | {cells[0]} | {cells[1]} |")
    return "\n".join(rows)


def report(out: Path) -> str:
    """The table of a run directory, read back from its outputs (so a corrected parser needs no new runs)."""
    record = json.loads((out / RECORD).read_text())
    runs = [Run(**run) for run in record["runs"]]
    loads = [run.load for run in runs]
    failed = [f"{run.bench} {run.side} round {run.round}: exit {run.returncode}" for run in runs if run.returncode]
    lines = [
        f"Measured {record['date']} on {record['machine']}; before `{record['before']}`, after `{record['after']}`; "
        f"{record['rounds']} rounds per side, alternating; one-minute load average "
        f"{min(loads, default=0):.1f}–{max(loads, default=0):.1f} as the runs started; "
        f"{sum(run.seconds for run in runs) / 60:.0f} min of runs.",
        "",
        f"Command: `{record['command']}`",
        "",
        table(out, record["benches"], runs),
    ]
    if failed:
        lines += ["", "Runs that failed (their output is in the run directory): " + "; ".join(failed)]
    return "\n".join(lines) + "\n"


def overrides(pairs: list[str]) -> dict[str, tuple[str, ...]]:
    parsed = {}
    for pair in pairs:
        name, _, value = pair.partition("=")
        if name not in BENCHES:
            raise SystemExit(f"unknown benchmark {name!r} in {pair!r}; known: {', '.join(BENCHES)}")
        parsed[name] = tuple(shlex.split(value))
    return parsed


def chosen(args: argparse.Namespace) -> list[Bench]:
    names = args.only or [name for name in BENCHES if name not in args.skip]
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHES)}")
    both, before = overrides(args.args), overrides(args.before_args)
    benches = []
    for name in names:
        bench = BENCHES[name]
        if name in both:
            bench = replace(bench, args=both[name], before=None)
        if name in before:
            bench = replace(bench, before=before[name])
        benches.append(bench)
    return benches


def measure(args: argparse.Namespace) -> None:
    benches = chosen(args)
    args.out = args.out or Path(tempfile.mkdtemp(prefix="dealgraph-before-after-"))
    args.out.mkdir(parents=True, exist_ok=True)
    dirty = " with uncommitted changes" if git("status", "--porcelain", "--untracked-files=no") else ""
    record: dict[str, Any] = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
        "before": git("rev-parse", "--short", args.before),
        "after": git("rev-parse", "--short", args.after) if args.after else git("rev-parse", "--short", "HEAD") + dirty,
        "rounds": args.rounds,
        "command": shlex.join(["python", "-m", "bench.before_after", *sys.argv[1:]]),
        "benches": [bench.name for bench in benches],
        "runs": [],
    }
    print(f"runs in {args.out}", flush=True)
    with ExitStack() as trees_in_use:
        trees = {
            "before": trees_in_use.enter_context(commit_tree(args.before)),
            "after": trees_in_use.enter_context(commit_tree(args.after)) if args.after else ROOT,
        }
        for bench in benches:
            for number in range(1, args.rounds + 1):
                for side in SIDES:
                    record["runs"].append(asdict(run_once(bench, side, number, trees[side], args)))
                    (args.out / RECORD).write_text(json.dumps(record, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", help="the earlier commit")
    parser.add_argument("--after", help="a later commit instead of this tree (to find where a figure moved)")
    parser.add_argument("--rounds", type=int, default=2, help="runs per side and benchmark, alternating")
    parser.add_argument("--only", nargs="+", default=[], metavar="NAME", help=f"of: {', '.join(BENCHES)}")
    parser.add_argument("--skip", nargs="+", default=[], metavar="NAME")
    parser.add_argument("--args", action="append", default=[], metavar="NAME='ARGS'", help="both sides' arguments")
    parser.add_argument("--before-args", action="append", default=[], metavar="NAME='ARGS'")
    parser.add_argument("--server-url", default="postgresql://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds one run may take")
    parser.add_argument("--out", type=Path, help="where each run's output and report.md go (default: a new temp dir)")
    parser.add_argument("--tabulate", type=Path, metavar="DIR", help="only the report of an earlier run directory")
    args = parser.parse_args()
    if args.tabulate:
        args.out = args.tabulate
    elif args.before:
        measure(args)
    else:
        parser.error("--before (or --tabulate) is required")
    text = report(args.out)
    (args.out / "report.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
