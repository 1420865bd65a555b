"""The directory where the processes of one `serve` write their metrics (prometheus_client's multiprocess mode).

Imports no metrics library: `serve`'s own process sets the directory up before it starts the others, and
records nothing itself.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

MULTIPROCESS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"
"""prometheus_client reads it when first imported: a process started with it set writes its values there."""


@contextmanager
def shared_metrics_directory() -> Iterator[Path]:
    """The directory the processes of one `serve` write their metrics to (PROMETHEUS_MULTIPROC_DIR).

    The operator's, emptied first (files of an earlier `serve` would be added to this one's), or a new temporary
    one, removed at the end. Set in the environment, so every process started from here on writes there."""
    configured = os.environ.get(MULTIPROCESS_DIR_ENV)
    if configured:
        directory = Path(configured)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        yield directory
        return
    directory = Path(tempfile.mkdtemp(prefix="dealgraph-metrics-"))
    os.environ[MULTIPROCESS_DIR_ENV] = str(directory)
    try:
        yield directory
    finally:
        os.environ.pop(MULTIPROCESS_DIR_ENV, None)
        shutil.rmtree(directory, ignore_errors=True)
