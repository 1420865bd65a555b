"""Who holds a claimed job: the name a job pool writes into the rows it claims.

Host and process make a stuck claim traceable to the machine and process that took it; the random tail
tells apart two pools of one process and a restarted process that reused a pid.
"""

from __future__ import annotations

import os
import socket
import uuid


def new_claimer_id() -> str:
    """A fresh claimer name, e.g. `api-1:4242:3f9a1c`."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
