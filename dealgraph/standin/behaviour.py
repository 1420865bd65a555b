"""Per-server mutable state: each agent's scripted failures, the prompt cache, and the statuses for `/stats`."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict, deque
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any

from dealgraph.standin.config import AgentBehaviour, StandinConfig
from dealgraph.standin.diagnostics import CacheDiagnostics
from dealgraph.standin.usage import PromptCache

_HOLD_TIMEOUT_S = 60.0
_RECORDED_REQUESTS = 100


@dataclass
class AgentRuntime:
    """Consumable state derived from an `AgentBehaviour`; rebuilt whenever the behaviour is replaced."""

    behaviour: AgentBehaviour
    rng: random.Random
    pending_failures: deque[int]
    invalid_left: int
    pending_faults: deque[str]
    pending_stops: deque[str]

    @classmethod
    def start(cls, behaviour: AgentBehaviour, seed: int, agent: str) -> AgentRuntime:
        """Seeded per agent, so one agent's traffic never shifts another's random failures."""
        rng = random.Random(f"{seed}:{agent}")
        return cls(
            behaviour,
            rng,
            deque(behaviour.failures),
            behaviour.invalid_output_times,
            deque(behaviour.stream_faults),
            deque(behaviour.stops),
        )

    def next_stream_fault(self) -> str | None:
        """What this streamed request must do after its 200, if anything: 'drop' or an error type."""
        return self.pending_faults.popleft() if self.pending_faults else None

    def next_stop(self) -> str | None:
        return self.pending_stops.popleft() if self.pending_stops else None

    def next_failure(self) -> int | None:
        """The status this request must fail with, if any; consumes a scripted failure."""
        if self.behaviour.fail_always is not None:
            return self.behaviour.fail_always
        if self.pending_failures:
            return self.pending_failures.popleft()
        if self.behaviour.failure_rate and self.rng.random() < self.behaviour.failure_rate:
            return self.behaviour.random_failure_status
        return None

    def take_invalid(self) -> bool:
        """Whether this tool call should be malformed; consumes one of `invalid_output_times`."""
        if self.invalid_left <= 0:
            return False
        self.invalid_left -= 1
        return True


@dataclass
class StandinState:
    """Everything `/_standin/reset` restores to `initial`, held in one place so nothing is forgotten."""

    initial: StandinConfig
    config: StandinConfig = field(init=False)
    runtimes: dict[str, AgentRuntime] = field(init=False)
    statuses: defaultdict[str, list[int]] = field(init=False)
    thinking_blocks_received: defaultdict[str, int] = field(init=False)
    token_counts: defaultdict[str, int] = field(init=False)
    """count_tokens requests per agent: free, so never among `statuses`, but a test may need to know."""
    cache: PromptCache = field(init=False)
    diagnostics: CacheDiagnostics = field(init=False)
    requests: deque[object] = field(init=False)
    """The latest Messages request bodies as sent, rejected ones included, for tests to assert on."""
    released: defaultdict[str, asyncio.Event] = field(init=False)
    """Held agents' answers wait on these; `/_standin/agents/{name}/release` sets them."""

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.config = self.initial.model_copy(deep=True)
        self.runtimes = {}
        self.statuses = defaultdict(list)
        self.thinking_blocks_received = defaultdict(int)
        self.token_counts = defaultdict(int)
        self.cache = PromptCache()
        self.diagnostics = CacheDiagnostics()
        self.requests = deque(maxlen=_RECORDED_REQUESTS)
        self.released = defaultdict(asyncio.Event)

    async def wait_turn(self, agent: str) -> None:
        if self.runtime(agent).behaviour.held:
            with suppress(TimeoutError):  # a test that never releases must not hang the stand-in forever
                await asyncio.wait_for(self.released[agent].wait(), _HOLD_TIMEOUT_S)

    def runtime(self, agent: str) -> AgentRuntime:
        if agent not in self.runtimes:
            self.runtimes[agent] = AgentRuntime.start(self.config.behaviour_for(agent), self.config.seed, agent)
        return self.runtimes[agent]

    def replace_behaviour(self, agent: str, behaviour: AgentBehaviour) -> None:
        self.config.agents[agent] = behaviour
        self.runtimes.pop(agent, None)

    def stats(self) -> dict[str, Any]:
        """Per-agent status history, so tests assert on what the SDK actually saw, retries included."""
        agents = {
            agent: {
                "requests": len(self.statuses[agent]),
                "statuses": self.statuses[agent],
                "thinking_blocks_received": self.thinking_blocks_received[agent],
                "token_counts": self.token_counts[agent],
            }
            for agent in self.statuses.keys() | self.token_counts.keys()
        }
        return {"agents": agents}
