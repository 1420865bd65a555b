"""Simulated Anthropic Messages API for tests and dev mode: real SDK, real protocol, synthetic content."""

from dealgraph.standin.app import create_standin_app
from dealgraph.standin.config import DEFAULT_AGENT, ERROR_TYPES, AgentBehaviour, StandinConfig
from dealgraph.standin.headers import SIMULATED_HEADER
from dealgraph.standin.requests import agent_name
from dealgraph.standin.runner import (
    DEFAULT_STANDIN_PORT,
    RunningStandin,
    run_standin,
    start_standin_in_thread,
)
from dealgraph.standin.synth import SIMULATED_PREFIX, drop_required, synthesize
from dealgraph.standin.transcript import Utterance, extract_utterances, transcript_of

__all__ = [
    "DEFAULT_AGENT",
    "DEFAULT_STANDIN_PORT",
    "ERROR_TYPES",
    "SIMULATED_HEADER",
    "SIMULATED_PREFIX",
    "AgentBehaviour",
    "RunningStandin",
    "StandinConfig",
    "Utterance",
    "agent_name",
    "create_standin_app",
    "drop_required",
    "extract_utterances",
    "run_standin",
    "start_standin_in_thread",
    "synthesize",
    "transcript_of",
]
