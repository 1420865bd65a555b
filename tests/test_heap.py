"""While serving, full garbage collections run on a schedule, not whenever the oldest generation grew by a
quarter (which, with many subscribers connecting, paused the process for 50-255 ms every second)."""

from __future__ import annotations

import gc
import weakref

import pytest

from dealgraph.server.heap import importing
from dealgraph.standin import RunningStandin
from tests.support import make_settings, running_app, wait_for


class Node:
    """A weak-referenceable object, to build a reference cycle with."""

    def __init__(self) -> None:
        self.other: Node | None = None


def old_cycle() -> weakref.ref[Node]:
    """A reference cycle that has reached the oldest generation, dropped at once; a weak reference to it."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(0)
    gc.collect(1)  # survivors of a generation-1 collection move to the oldest generation
    return weakref.ref(a)


async def test_full_collections_run_on_their_schedule_and_still_free_old_cycles(
    database_url: str, standin_server: RunningStandin
) -> None:
    before = gc.get_threshold()
    settings = make_settings(
        database_url, standin_server.base_url, analysis_slots=0, full_collection_s=0.3, settle_heap=True
    )
    async with running_app(settings):
        assert gc.get_threshold()[:2] == before[:2]
        assert gc.get_threshold()[2] >= 2**31 - 1  # never started by allocation counts
        cycle = old_cycle()
        gc.collect(1)
        assert cycle() is not None  # a young collection does not reach it
        full = gc.get_stats()[2]["collections"]
        await wait_for(lambda: cycle() is None, timeout=5)  # the scheduled full collection ran
        assert gc.get_stats()[2]["collections"] > full
    assert gc.get_threshold() == before  # the process's own thresholds once no app serves


async def test_two_apps_in_one_process_restore_the_thresholds_only_when_both_stopped(
    database_url: str, standin_server: RunningStandin
) -> None:
    before = gc.get_threshold()
    settings = make_settings(database_url, standin_server.base_url, analysis_slots=0, settle_heap=True)
    async with running_app(settings):
        async with running_app(settings):
            pass
        assert gc.get_threshold()[2] >= 2**31 - 1  # the first app still serves
    assert gc.get_threshold() == before


async def test_an_app_told_not_to_settle_leaves_the_collector_as_it_found_it(
    database_url: str, standin_server: RunningStandin
) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    settings = make_settings(database_url, standin_server.base_url, analysis_slots=0, settle_heap=False)
    async with running_app(settings):
        assert (gc.get_threshold(), gc.get_freeze_count()) == before


def test_start_up_imports_collect_the_youngest_generation_rarely_and_restore_the_thresholds() -> None:
    before = gc.get_threshold()
    with pytest.raises(ImportError), importing():
        assert gc.get_threshold() == (10_000, *before[1:])
        import dealgraph.no_such_module  # noqa: F401 (a failed import restores them too)
    assert gc.get_threshold() == before
