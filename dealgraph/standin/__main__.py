"""`python -m dealgraph.standin`: the stand-in in a process of its own.

`dealgraph llm-standin` runs it in the foreground (`--host`, `--port`); `serve` starts it as a child on a
socket it bound (`--fd N`). It imports the stand-in alone (about 0.6 s of CPU, against some 6 s for the
whole `dealgraph` command line), so on a loaded machine the child is up in seconds, and it stops when
its parent is gone.
"""

from __future__ import annotations

import argparse
import json

from dealgraph.children import watch_supervisor
from dealgraph.config import get_settings
from dealgraph.logs import configure_logging
from dealgraph.standin.config import AgentBehaviour, StandinConfig
from dealgraph.standin.runner import DEFAULT_STANDIN_PORT, run_standin


def main() -> None:
    parser = argparse.ArgumentParser(prog="dealgraph llm-standin", description=__doc__.split("\n")[0])
    parser.add_argument("--fd", type=int, help="an inherited listening socket to serve on (how `serve` starts it)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_STANDIN_PORT)
    parser.add_argument("--latencies", type=json.loads, help='JSON: {"meddpicc": 4.5, …} (seconds)')
    args = parser.parse_args()
    settings = get_settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.fd is not None:
        watch_supervisor()
    latencies = settings.standin_latencies if args.latencies is None else args.latencies
    behaviours = {agent: AgentBehaviour(latency_s=float(seconds)) for agent, seconds in latencies.items()}
    run_standin(StandinConfig(agents=behaviours), host=args.host, port=args.port, fd=args.fd)


if __name__ == "__main__":
    main()
