"""The cost model on its own: the figures the README quotes, variables, fragments, stored lists."""

from __future__ import annotations

from typing import Any

import pytest
from graphql import parse, validate

from dealgraph.schema import schema
from dealgraph.schema.strawberry_overrides import graphql_core_schema
from dealgraph.server.cost import QueryCostLimiter, cost_rule


def cost(query: str, variables: dict[str, Any] | None = None) -> int:
    """Validate with a limit of 0, so the rule always reports and says what it counted."""
    rule = cost_rule(QueryCostLimiter(max_cost=0, default_page_size=20, max_list_size=100), variables or {})
    errors = validate(graphql_core_schema(schema), parse(query), [rule])
    assert len(errors) == 1, errors
    return int(errors[0].extensions["cost"])


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("{ accounts(first: 100) { edges { node { deals(first: 100) { edges { node { id name } } } } } } }", 40_301),
        ("{ accounts(first: 100) { edges { node { deals(first: 20) { edges { node { id name } } } } } } }", 8_301),
        ("{ accounts { edges { node { id } } } }", 1 + 20 * 3),  # a connection without `first` holds 20
        ("{ viewer { role } }", 2),
    ],
)
def test_readme_figures(query: str, expected: int) -> None:
    assert cost(query) == expected


def test_variables_and_their_defaults_size_connections() -> None:
    query = "query($n: Int = 5) { accounts(first: $n) { edges { node { id } } } }"
    assert cost(query) == 1 + 5 * 3
    assert cost(query, {"n": 50}) == 1 + 50 * 3
    assert cost(query, {"n": "lots"}) == 1 + 100 * 3  # not an integer: the worst case


def test_fragments_count_like_inline_selections_and_cycles_end() -> None:
    inline = "{ accounts(first: 10) { edges { node { id name } } } }"
    spread = "{ accounts(first: 10) { ...A } } fragment A on AccountConnection { edges { node { id name } } }"
    assert cost(spread) == cost(inline)
    assert cost("{ viewer { ...V } } fragment V on Viewer { role ...V }") >= 2


def test_computed_lists_count_at_the_cap_and_stored_lists_once() -> None:
    computed = "query($id: ID!) { analysis(id: $id) { agentRuns { id } } }"
    assert cost(computed) == 1 + 100 * 2
    stored = "query($id: ID!) { analysis(id: $id) { agentRuns { result { ... on ActionItemsResult { items { description } } } } } }"
    assert cost(stored) == 1 + 100 * (1 + 1 + 2)
