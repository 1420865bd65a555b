"""No API key: run the agents against the local Messages API stand-in, and say so loudly."""

from __future__ import annotations

import logging
import os

from dealgraph.agents.standin import AgentBehaviour, StandinConfig, StandinProcess, start_standin_process
from dealgraph.config import Settings

log = logging.getLogger("dealgraph.simulation")

BANNER = (
    "\n" + "!" * 78 + "\n"
    "!!  NO ANTHROPIC_API_KEY: agents run against the LOCAL STAND-IN at %s (process %d, a child of %d)\n"
    "!!  Every analysis result is SIMULATED (metadata.simulated = true), not real analysis.\n" + "!" * 78
)


def standin_config(settings: Settings) -> StandinConfig:
    return StandinConfig(
        agents={agent: AgentBehaviour(latency_s=seconds) for agent, seconds in settings.standin_latencies.items()}
    )


def with_llm_access(settings: Settings, *, quiet: bool = False) -> tuple[Settings, StandinProcess | None]:
    """The settings to run with: unchanged with a key or base URL, else pointed at a fresh stand-in
    (announced with a loud banner unless the caller says so itself).

    The stand-in runs in a child process of its own, never in the caller's: served from the API
    process it would share its GIL and event loop, and every figure measured would include it."""
    if settings.anthropic_api_key or settings.anthropic_base_url:
        return settings, None
    standin = start_standin_process(settings.standin_latencies, port=settings.standin_port)
    if not quiet:
        log.warning(BANNER, standin.base_url, standin.pid, os.getpid())
    return settings.model_copy(update={"anthropic_base_url": standin.base_url}), standin
