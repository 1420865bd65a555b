"""List prices of the models dealgraph runs, for estimates and measured costs (US dollars per million tokens).

From each model's overview page (https://platform.claude.com/docs/en/models/<model>/overview, "Pricing"):
Claude Sonnet 5.5 $2 input, $10 output, $2.50 / $4 cache write (5 minutes / 1 hour), $0.20 cache read;
Claude Opus 5.5 $4 / $20, its cache prices by the prompt-caching multipliers (1.25x and 2x input to write,
0.1x to read; https://platform.claude.com/docs/en/build-with-claude/prompt-caching); Claude Haiku 5.5 is
priced by prompt length: $0.10 / $0.50 (cache write $0.125 / $0.20) up to 100,000 prompt tokens, $0.50 /
$2.50 (cache write $0.625 / $1.00) above, cache reads at 0.1x input. The Message Batches API halves every
price (https://platform.claude.com/docs/en/build-with-claude/batch-processing, pricing). dealgraph writes
5-minute cache entries only.
"""

from __future__ import annotations

from dataclasses import dataclass

from dealgraph.claude.client import Usage

BATCH_PRICE_FACTOR = 0.5
_PER_TOKEN = 1e-6


@dataclass(frozen=True, slots=True)
class Prices:
    input: float
    output: float
    cache_write: float
    cache_read: float


_LONG_PROMPT_TOKENS = 100_000
"""Above this many prompt tokens Claude Haiku 5.5 is priced at its long-prompt rates."""

_PRICES: dict[str, tuple[Prices, Prices]] = {
    "claude-sonnet-5-5": (Prices(2.00, 10.00, 2.50, 0.20),) * 2,
    "claude-opus-5-5": (Prices(4.00, 20.00, 5.00, 0.40),) * 2,
    "claude-haiku-5-5": (Prices(0.10, 0.50, 0.125, 0.01), Prices(0.50, 2.50, 0.625, 0.05)),
}
"""Per model: (prompts up to 100,000 tokens, longer prompts)."""


class UnpricedModel(KeyError):
    """A model without a price here: an estimate cannot be made, so nothing is started on a guess."""


def cost_usd(model: str, usage: Usage, *, batch: bool = False) -> float:
    """What `usage` costs on `model`; `batch` applies the Message Batches discount."""
    try:
        short, long = _PRICES[model]
    except KeyError:
        raise UnpricedModel(f"no list price known for {model}; add it to dealgraph/claude/prices.py") from None
    prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    prices = long if prompt > _LONG_PROMPT_TOKENS else short
    dollars = (
        usage.input_tokens * prices.input
        + usage.output_tokens * prices.output
        + usage.cache_write_tokens * prices.cache_write
        + usage.cache_read_tokens * prices.cache_read
    ) * _PER_TOKEN
    return dollars * (BATCH_PRICE_FACTOR if batch else 1.0)
