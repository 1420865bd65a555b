"""Field rules as pydantic constraints: what a refusal names (the client's field path) and how it reads."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from dealgraph.services.deals import DEAL_RULES
from dealgraph.services.prompts import VERSION_RULES
from dealgraph.validation import FieldError, InvalidInput, Rules, field_path


def refusals(rules: Rules[Any], values: dict[str, object], at: tuple[str, ...] = ()) -> list[FieldError]:
    with pytest.raises(InvalidInput) as invalid:
        rules.validate(values, at)
    return list(invalid.value.errors)


def test_field_paths_are_graphql_names_without_list_positions() -> None:
    assert field_path(("input", "close_date")) == "input.closeDate"
    assert field_path(("labels", 3)) == "labels"
    assert field_path("maxTokens") == "maxTokens"


def test_a_partial_update_checks_only_the_fields_given() -> None:
    assert DEAL_RULES.validate({"currency": " eur "}, ("input",)) == {"currency": "EUR"}


def test_null_for_a_field_that_cannot_be_null() -> None:
    assert refusals(DEAL_RULES, {"name": None}, ("input",)) == [FieldError("input.name", "must not be null")]


def test_one_refusal_per_field_in_this_api_s_words() -> None:
    assert refusals(DEAL_RULES, {"name": " ", "amount": Decimal("-1"), "currency": "dollars"}, ("input",)) == [
        FieldError("input.name", "must not be blank"),
        FieldError("input.amount", "must not be negative"),
        FieldError("input.currency", "must be an ISO 4217 code like USD"),
    ]


def test_each_bad_item_of_a_list_is_refused_at_the_list() -> None:
    [first, second] = refusals(VERSION_RULES, {"labels": ["ok", "Bad", "bad too"]})
    assert first.field == second.field == "labels"
    assert first.message.startswith("must be lowercase letters")
