"""The Jinja sandbox prompt templates run in, bounded in the work and memory one render may take.

Templates render on the event loop every request of the process shares, and a tenant admin writes
them. Jinja's sandbox stops attribute escapes and bounds `range`, nothing else: a probe froze the
server for 10 s with three nested `range(500)` loops, built 1 GB strings with
`'{:>1000000000}'.format(1)` or by doubling a string thirty times, and took minutes in `9 ** 9 ** 9`.
So, per render (and per compile, where Jinja folds constants):

- at most `MAX_STEPS` steps: a loop iteration is one, `range(n)` is n, a filter over a collection
  of n items is n;
- no string or list over `MAX_SIZE` items, checked before it is made where its size can be known
  (a repetition `*`, a format width, `replace`, a numeric argument of a call or filter) and after,
  on what every filter, call and `~` returns and on the rendered text;
- no power of more than `MAX_POWER_DIGITS` digits.

Refusals are `SecurityError`s, which the caller reports as the template's fault with its line.
Render with `bounded_render`, not `Template.render`: it holds the budget and stops the text at `MAX_SIZE`.

    >>> bounded_render(PromptEnvironment().from_string("{{ 'ab' * 2 }}"), {})
    'abab'
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence, Sized
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from jinja2 import Template, nodes
from jinja2.exceptions import SecurityError
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment
from jinja2.visitor import NodeTransformer

MAX_STEPS = 100_000
"""Loop iterations and items filtered per render: a prompt loops over utterances (thousands at most)."""
MAX_SIZE = 1_000_000
"""Largest string or list a template may make: a prompt that long is several times the model's context."""
MAX_POWER_DIGITS = 4300
"""Python's limit for turning an int into text (`sys.get_int_max_str_digits`): a larger power cannot render."""

_BIG_NUMBER = re.compile(rf"\d{{{len(str(MAX_SIZE))},}}")  # a number of MAX_SIZE's digits or more
_STEPS_LEFT: ContextVar[list[int]] = ContextVar("template_steps_left")
_LOOP_FILTER = "_counted_loop"
_CONCAT_FILTER = "_sized_concat"


def bounded_render(template: Template, variables: Mapping[str, Any]) -> str:
    """`template`'s text, within a fresh budget, stopped as soon as it grows past `MAX_SIZE`."""
    pieces, length = [], 0
    with _work_budget():
        for piece in template.generate(variables):
            length += len(piece)
            if length > MAX_SIZE:
                raise SecurityError(f"renders more than {MAX_SIZE} characters")
            pieces.append(piece)
    return "".join(pieces)


@contextmanager
def _work_budget() -> Iterator[None]:
    """A fresh `MAX_STEPS` for what runs inside: one render, or one compile."""
    token = _STEPS_LEFT.set([MAX_STEPS])
    try:
        yield
    finally:
        _STEPS_LEFT.reset(token)


def _spend(steps: int, what: str) -> None:
    left = _STEPS_LEFT.get(None)
    if left is None:
        raise RuntimeError("templates are rendered with `bounded_render`, which gives them a budget")
    left[0] -= steps
    if left[0] < 0:
        raise SecurityError(f"{what} goes past {MAX_STEPS} steps (loop iterations and items filtered)")


def _sized(value: Any, what: str) -> Any:
    if isinstance(value, str | list | tuple) and len(value) > MAX_SIZE:
        raise SecurityError(f"{what} makes {len(value)} items, more than {MAX_SIZE}")
    return value


def _check_format(template: object, what: str) -> None:
    if isinstance(template, str) and _BIG_NUMBER.search(template):
        raise SecurityError(f"{what} has a number of {MAX_SIZE} or more in its format")


def _check_arguments(what: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and abs(value) > MAX_SIZE:
            raise SecurityError(f"{what} got {value}, more than {MAX_SIZE}")


def _check_replacement(text: str, old: str, new: str, what: str) -> None:
    """Before `text.replace(old, new)`: what it would make (an empty `old` matches around every character)."""
    matches = text.count(old) if old else len(text) + 1
    if len(text) + matches * (len(new) - len(old)) > MAX_SIZE:
        raise SecurityError(f"{what} would make more than {MAX_SIZE} items")


def _counted(items: Iterable[Any]) -> Iterator[Any]:
    for item in items:
        _spend(1, "a loop")
        yield item


def _bounded_range(*args: int) -> range:
    numbers = range(*args)
    _spend(len(numbers), "range()")
    return numbers


def _bounded_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function` (a Jinja filter) with its arguments, work and result checked."""

    what = f"filter '{name}'"
    first_value = 1 if getattr(function, "jinja_pass_arg", None) is not None else 0  # after a context it asks for

    @functools.wraps(function)  # keeps Jinja's pass_context/pass_environment marks
    def checked(*args: Any, **kwargs: Any) -> Any:
        value, rest = args[first_value], args[first_value + 1 :]
        _check_arguments(what, rest, kwargs)
        if name == "format":
            _check_format(value, what)
        if name == "replace" and isinstance(value, str) and len(rest) >= 2:
            _check_replacement(value, str(rest[0]), str(rest[1]), what)
        if isinstance(value, Sized) and not isinstance(value, str):
            _spend(len(value), what)
        return _sized(function(*args, **kwargs), what)

    return checked


class PromptEnvironment(SandboxedEnvironment):
    """The sandbox with the bounds of this module. Loops and `~` are rewritten when parsed to pass
    through counting filters; intercepted operators are also never constant-folded (`9 ** 9 ** 9`
    no longer runs while compiling)."""

    intercepted_binops = frozenset({"**", "*", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters = {name: _bounded_filter(name, function) for name, function in self.filters.items()}
        self.filters[_LOOP_FILTER] = _counted
        self.filters[_CONCAT_FILTER] = lambda value: _sized(value, "'~'")
        self.globals["range"] = _bounded_range
        del self.globals["lipsum"]  # lorem ipsum has no place in a prompt; `lipsum(10**5)` took 11 s

    def compile(
        self,
        source: str | nodes.Template,
        name: str | None = None,
        filename: str | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        """Source text is parsed here (Jinja's public `parse`) and rewritten before Jinja compiles the tree."""
        if isinstance(source, str):
            tree = _Counting().visit(self.parse(source, name, filename))
            assert isinstance(tree, nodes.Template)
            source = tree
        with _work_budget():  # Jinja runs filters with constant arguments while compiling
            return super().compile(source, name, filename, *args, **kwargs)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and _power_digits(left, right) > MAX_POWER_DIGITS:
            raise SecurityError(f"'**' would give a number of more than {MAX_POWER_DIGITS} digits")
        if operator == "*" and _repeated_length(left, right) > MAX_SIZE:
            raise SecurityError(f"'*' would repeat to more than {MAX_SIZE} items")
        if operator == "%" and isinstance(left, str):
            _check_format(left, "'%'")
            if "*" in left:  # widths taken from the values
                _check_arguments("'%'", right if isinstance(right, tuple) else (right,), {})
        return _sized(super().call_binop(context, operator, left, right), f"'{operator}'")

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        what = f"'{getattr(__obj, '__name__', type(__obj).__name__)}'"
        _check_arguments(what, args, kwargs)
        text = getattr(__obj, "__self__", None)
        if what == "'replace'" and isinstance(text, str) and len(args) >= 2:
            _check_replacement(text, str(args[0]), str(args[1]), what)
        return _sized(super().call(__context, __obj, *args, **kwargs), what)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format(value.__self__, f"'{value.__name__}'")
        return wrapped


class _Counting(NodeTransformer):
    """Loops iterate through `_counted`, and what `~` joins goes through `_sized`."""

    def visit_For(self, node: nodes.For) -> nodes.Node:
        self.generic_visit(node)
        node.iter = nodes.Filter(node.iter, _LOOP_FILTER, [], [], None, None, lineno=node.lineno)
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return nodes.Filter(node, _CONCAT_FILTER, [], [], None, None, lineno=node.lineno)


def _repeated_length(left: Any, right: Any) -> int:
    """The length `left * right` would have when it repeats a string or list; 0 for arithmetic."""
    sequence, count = (left, right) if isinstance(right, int) else (right, left)
    if isinstance(sequence, str | list | tuple) and isinstance(count, int):
        return len(sequence) * count
    return 0


def _power_digits(base: Any, exponent: Any) -> float:
    """About how many digits `base ** exponent` has; 0 unless both are ints (a float power overflows quickly)."""
    if not (isinstance(base, int) and isinstance(exponent, int)) or exponent <= 0 or abs(base) <= 1:
        return 0
    return exponent * math.log10(abs(base))
