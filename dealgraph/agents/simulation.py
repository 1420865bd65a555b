"""No API key: run the agents against the local Messages API stand-in, and say so loudly."""

from __future__ import annotations

import logging

from dealgraph.agents.standin import AgentBehaviour, RunningStandin, StandinConfig, start_standin_in_thread
from dealgraph.config import Settings

log = logging.getLogger("dealgraph.simulation")

BANNER = (
    "\n" + "!" * 78 + "\n"
    "!!  NO ANTHROPIC_API_KEY: agents run against the LOCAL STAND-IN at %s\n"
    "!!  Every analysis result is SIMULATED (metadata.simulated = true), not real analysis.\n"
    + "!" * 78
)


def standin_config(settings: Settings) -> StandinConfig:
    return StandinConfig(
        agents={agent: AgentBehaviour(latency_s=seconds) for agent, seconds in settings.standin_latencies.items()}
    )


def with_llm_access(settings: Settings, *, quiet: bool = False) -> tuple[Settings, RunningStandin | None]:
    """The settings to run with: unchanged with a key or base URL, else pointed at a fresh stand-in
    (announced with a loud banner unless the caller says so itself)."""
    if settings.anthropic_api_key or settings.anthropic_base_url:
        return settings, None
    standin = start_standin_in_thread(standin_config(settings), port=settings.standin_port)
    if not quiet:
        log.warning(BANNER, standin.base_url)
    return settings.model_copy(update={"anthropic_base_url": standin.base_url}), standin
