"""Simulated Anthropic Messages API for tests and dev mode: real SDK, real protocol, synthetic content."""

from dealgraph.agents.standin.app import create_standin_app
from dealgraph.agents.standin.config import DEFAULT_AGENT, ERROR_TYPES, AgentBehaviour, StandinConfig
from dealgraph.agents.standin.headers import SIMULATED_HEADER
from dealgraph.agents.standin.requests import agent_name
from dealgraph.agents.standin.runner import (
    DEFAULT_STANDIN_PORT,
    RunningStandin,
    StandinProcess,
    run_standin,
    start_standin_in_thread,
    start_standin_process,
)
from dealgraph.agents.standin.synth import SIMULATED_PREFIX, drop_required, synthesize
from dealgraph.agents.standin.transcript import Utterance, extract_utterances, transcript_of
from dealgraph.agents.standin.usage import estimate_tokens

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_STANDIN_PORT",
    "ERROR_TYPES",
    "SIMULATED_HEADER",
    "SIMULATED_PREFIX",
    "AgentBehaviour",
    "RunningStandin",
    "StandinConfig",
    "StandinProcess",
    "Utterance",
    "agent_name",
    "create_standin_app",
    "drop_required",
    "estimate_tokens",
    "extract_utterances",
    "run_standin",
    "start_standin_in_thread",
    "start_standin_process",
    "synthesize",
    "transcript_of",
]
