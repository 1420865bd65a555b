"""Costs from the models' list prices, with the Message Batches discount."""

from __future__ import annotations

import pytest

from dealgraph.claude.client import Usage
from dealgraph.claude.models import MODELS
from dealgraph.claude.prices import UnpricedModel, cost_usd


def test_every_model_dealgraph_runs_has_a_price() -> None:
    for model in MODELS:
        assert cost_usd(model, Usage(input_tokens=1000, output_tokens=1000)) > 0


def test_each_kind_of_token_at_its_price_and_batches_at_half() -> None:
    usage = Usage(
        input_tokens=1_000_000, output_tokens=100_000, cache_read_tokens=2_000_000, cache_write_tokens=400_000
    )
    live = cost_usd("claude-sonnet-5-5", usage)
    assert live == pytest.approx(2.00 + 1.00 + 0.40 + 1.00)
    assert cost_usd("claude-sonnet-5-5", usage, batch=True) == pytest.approx(live / 2)


def test_haiku_prices_long_prompts_higher() -> None:
    short = cost_usd("claude-haiku-5-5", Usage(input_tokens=100_000))
    long = cost_usd("claude-haiku-5-5", Usage(input_tokens=100_001))
    assert short == pytest.approx(0.01) and long == pytest.approx(100_001 * 0.50e-6)


def test_an_unpriced_model_is_refused_rather_than_guessed() -> None:
    with pytest.raises(UnpricedModel, match="claude-sonnet-4-0"):
        cost_usd("claude-sonnet-4-0", Usage(input_tokens=1))
