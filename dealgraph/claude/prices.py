"""List prices of the models, to estimate what agent runs cost (the `dealgraph_agent_cost_usd` metric).

An estimate, not the bill: batch and regional (`inference_geo`) rates and 1-hour cache writes are not used by
the agents, and the bill is Anthropic's to state. US dollars per million tokens; cache writes are the 5-minute
rate (1.25 x input) and cache reads 0.1 x input (https://platform.claude.com/docs/en/about-claude/pricing).
"""

from __future__ import annotations

from dataclasses import dataclass

from dealgraph.claude.client import Usage

_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class Rates:
    input: float
    output: float
    cache_write: float
    cache_read: float


@dataclass(frozen=True, slots=True)
class Price:
    base: Rates
    long_prompt: Rates | None = None
    """Rates of a request whose prompt (input and cache tokens) is longer than `long_prompt_tokens`."""
    long_prompt_tokens: int = 0


PRICES: dict[str, Price] = {
    # https://platform.claude.com/docs/en/models/sonnet-5-5/overview
    "claude-sonnet-5-5": Price(Rates(2.0, 10.0, 2.5, 0.2)),
    # https://platform.claude.com/docs/en/models/opus-5-5/overview
    "claude-opus-5-5": Price(Rates(4.0, 20.0, 5.0, 0.4)),
    # https://platform.claude.com/docs/en/models/haiku-5-5/overview: prompts over 100K tokens cost five times more
    "claude-haiku-5-5": Price(Rates(0.1, 0.5, 0.125, 0.01), Rates(0.5, 2.5, 0.625, 0.05), 100_000),
}


def cost_usd(model: str, usage: Usage, requests: int = 1) -> float:
    """What `usage`, spent over `requests` requests, costs at list price; 0 for a model without a price.

    The long-prompt rate is chosen by the average prompt of the requests: per-request sizes are not kept."""
    price = PRICES.get(model)
    if price is None:
        return 0.0
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    rates = price.base
    if price.long_prompt is not None and prompt / max(requests, 1) > price.long_prompt_tokens:
        rates = price.long_prompt
    return _PER_TOKEN * (
        usage.input_tokens * rates.input
        + usage.output_tokens * rates.output
        + usage.cache_write_tokens * rates.cache_write
        + usage.cache_read_tokens * rates.cache_read
    )
