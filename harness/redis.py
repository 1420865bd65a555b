"""A Redis server for the Redis transport's tests: the one CI names, else the usual one on 6379, else a
`redis-server` of our own on a free port."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from harness.ports import answers, free_port

REQUIRED = "TEST_REDIS_URL"
"""Set (by .ci/run) to the Redis the tests must use: then a missing Redis fails the run instead of skipping."""


class NoRedis(Exception):
    """Neither a Redis answering on 6379 nor a `redis-server` binary to start one."""


def _answering(url: str) -> bool:
    parts = urlsplit(url)
    return answers(parts.port or 6379, parts.hostname or "127.0.0.1")


@contextmanager
def redis_server() -> Iterator[str]:
    """Yields a Redis URL; a server started here is stopped at the end."""
    if required := os.environ.get(REQUIRED):
        if not _answering(required):
            raise RuntimeError(f"{REQUIRED}={required} does not answer")
        yield required
        return
    if answers(6379):
        yield "redis://127.0.0.1:6379/0"
        return
    binary = shutil.which("redis-server")
    if binary is None:
        raise NoRedis("no Redis on 127.0.0.1:6379 and no redis-server to start")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="dealgraph-redis-") as data_dir:
        server = subprocess.Popen(
            [binary, "--port", str(port), "--save", "", "--dir", data_dir],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while not answers(port):
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("redis-server did not start")
                time.sleep(0.05)
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            server.terminate()
            server.wait(10)
