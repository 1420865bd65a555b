"""Strawberry's schema-extension hooks, prepared once per extension class instead of once per operation.

For every operation strawberry builds a context manager per stage (operation, parsing, validation,
execution), and each of those inspects every extension to find and wrap its hook
(`inspect.isgeneratorfunction`, then `contextlib.contextmanager`, which copies the function's
metadata with `functools.wraps`). With the eleven extensions this app runs, that was about a tenth of
the CPU of a small query (py-spy). What it finds depends only on the extension's class, so it is
worked out once per class and stage here; an operation only binds the prepared hook to its own
extension instance. The hooks, their order and their sync/async handling are strawberry's.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable
from functools import partial

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    ExtensionContextManagerBase,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

Binder = Callable[[SchemaExtension], WrappedHook]


_binders: dict[tuple[type[SchemaExtension], str], Binder | None] = {}


def _binder(extension_type: type[SchemaExtension], hook_name: str) -> Binder | None:
    """How to wrap `extension_type`'s hook for one stage: None if it has none, `_PLAIN` for strawberry to do."""
    key = (extension_type, hook_name)
    if key not in _binders:
        _binders[key] = _prepare(extension_type, hook_name)
    return _binders[key]


def _prepare(extension_type: type[SchemaExtension], hook_name: str) -> Binder | None:
    hook = getattr(extension_type, hook_name)
    if hook is getattr(SchemaExtension, hook_name):
        return None
    if inspect.isgeneratorfunction(hook):
        manager = contextlib.contextmanager(hook)
        return lambda extension: WrappedHook(extension, partial(manager, extension), False)
    if inspect.isasyncgenfunction(hook):
        async_manager = contextlib.asynccontextmanager(hook)
        return lambda extension: WrappedHook(extension, partial(async_manager, extension), True)
    return _PLAIN


def _plain(extension: SchemaExtension) -> WrappedHook:
    raise AssertionError("never called: marks hooks left to strawberry")


_PLAIN: Binder = _plain


class _PreparedHooks(ExtensionContextManagerBase):
    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        binder = _binder(type(extension), self.HOOK_NAME)
        if binder is _PLAIN:  # a plain (async) function: rare, strawberry wraps it as ever
            return super().get_hook(extension)
        return None if binder is None else binder(extension)


class _Operation(_PreparedHooks, OperationContextManager):
    pass


class _Parsing(_PreparedHooks, ParsingContextManager):
    pass


class _Validation(_PreparedHooks, ValidationContextManager):
    pass


class _Executing(_PreparedHooks, ExecutingContextManager):
    pass


class PreparedHooksRunner(SchemaExtensionsRunner):
    """`SchemaExtensionsRunner` whose stages use the hooks prepared per class (see the module doc)."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)
