"""`python -m dealgraph.agents.standin --fd N`: the stand-in as `serve` and `worker` run it, in a child process.

It imports the stand-in alone (about 0.6 s of CPU, against some 6 s for the whole `dealgraph` command line),
so on a loaded machine the child is up in seconds, and it stops when its parent is gone.
"""

from __future__ import annotations

import argparse
import json

from dealgraph.agents.standin.config import AgentBehaviour, StandinConfig
from dealgraph.agents.standin.runner import run_standin
from dealgraph.children import watch_supervisor
from dealgraph.config import get_settings
from dealgraph.logs import configure_logging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fd", type=int, required=True, help="the inherited listening socket to serve on")
    parser.add_argument("--latencies", type=json.loads, default={}, help='JSON: {"meddpicc": 4.5, …} (seconds)')
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    watch_supervisor()
    behaviours = {agent: AgentBehaviour(latency_s=float(seconds)) for agent, seconds in args.latencies.items()}
    run_standin(StandinConfig(agents=behaviours), fd=args.fd)


if __name__ == "__main__":
    main()
