"""Run progress is announced in shared transactions, off the model stream's path, and in order."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from starlette.applications import Starlette

from dealgraph.fanout.hub import NotificationHub
from dealgraph.runs import runner
from dealgraph.runs.progress import ProgressPublisher
from tests.factories import claimed_run
from tests.support import recording_statements, wait_for


def _progress(analysis: str, run: str, tokens: int) -> dict[str, object]:
    return {"kind": "progress", "analysis": analysis, "run": run, "outputTokens": tokens}


async def test_progress_of_many_runs_costs_one_statement_and_keeps_the_latest(app: Starlette) -> None:
    hub: NotificationHub = app.state.hub
    publisher = ProgressPublisher(app.state.database)
    analysis = str(uuid.uuid4())
    run_ids = [str(uuid.uuid4()) for _ in range(20)]
    async with hub.subscribe(lambda _: True, ("analysis", analysis)) as heard:
        with recording_statements(app.state.database, "pg_notify") as sent:  # the idle worker sends none
            for tokens in (10, 20):  # the stream reports twice before anything is sent: only 20 counts
                for run in run_ids:
                    publisher.publish(_progress(analysis, run, tokens))
            await asyncio.gather(*(publisher.sent(run) for run in run_ids))
        await wait_for(lambda: heard.queue.qsize() >= len(run_ids))
        events = [heard.queue.get_nowait() for _ in range(heard.queue.qsize())]
    await publisher.close()
    assert len(sent) == 1, sent
    assert sorted(e["run"] for e in events) == sorted(run_ids)
    assert {e["outputTokens"] for e in events} == {20}


async def test_a_run_waits_only_for_its_own_pending_progress(app: Starlette) -> None:
    publisher = ProgressPublisher(app.state.database)
    await asyncio.wait_for(publisher.sent(str(uuid.uuid4())), 1)  # nothing pending: returns at once
    run = str(uuid.uuid4())
    publisher.publish(_progress(str(uuid.uuid4()), run, 5))
    await asyncio.wait_for(publisher.sent(run), 30)
    await publisher.close()


class _Recorder:
    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []

    def publish(self, event: dict[str, object]) -> None:
        self.events.append(event)


async def test_a_run_reports_progress_one_interval_in_then_at_most_once_per_interval(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run shorter than the interval announces only its result: no progress write, nothing for it to wait on.
    And no progress goes out before the run's start has been announced, however long that takes."""
    clock = [1000.0]
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    recorder = _Recorder()
    announced = asyncio.get_running_loop().create_future()
    report = runner.ProgressReporter(recorder, claimed_run(), interval=0.25, announced=announced)
    for elapsed, tokens in ((0.0, 5), (0.1, 40), (0.24, 90)):  # the first tokens, within the first interval
        clock[0] = 1000.0 + elapsed
        await report(tokens)
    assert recorder.events == []
    clock[0] = 1000.3
    await report(95)  # an interval in, but `started` has not gone out yet
    assert recorder.events == []
    announced.set_result(None)
    for elapsed, tokens in ((0.31, 100), (0.35, 120), (0.57, 200)):
        clock[0] = 1000.0 + elapsed
        await report(tokens)
    assert [(e["kind"], e["outputTokens"]) for e in recorder.events] == [("progress", 100), ("progress", 200)]
