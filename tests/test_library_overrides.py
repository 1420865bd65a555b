"""The library internals dealgraph relies on are still where, and what, its overrides expect.

A release may move a private name without notice; the override would then stop applying (a subclass
method nobody calls) or break at a distance (an AttributeError mid-request). These checks fail first,
naming the library, its installed version and the module to revisit. pyproject.toml bounds each of
these libraries to the versions checked.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

import uvicorn.supervisors.multiprocess as uvicorn_multiprocess
from graphql import ExecutionResult, GraphQLError, GraphQLSchema, parse
from strawberry.extensions import MaskErrors
from strawberry.extensions.context import ExtensionContextManagerBase, OperationContextManager, WrappedHook
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from dealgraph.schema import schema
from dealgraph.schema.strawberry_overrides import (
    MaskErrorsWithoutProtocolCheck,
    graphql_core_schema,
    provided_operation_name,
)
from dealgraph.server.uvicorn_overrides import StopAcceptingMultiprocess, WatchedProcess

STRAWBERRY = "strawberry-graphql"
UVICORN = "uvicorn"


def moved(distribution: str, what: str, override: str) -> str:
    return f"{distribution} {version(distribution)}: {what} is not what {override} expects; revisit it"


def parameters(function: Callable[..., Any]) -> list[str]:
    return list(inspect.signature(function).parameters)


def names_used(function: Callable[..., Any]) -> set[str]:
    """Globals and attributes `function`'s own code refers to."""
    return set(function.__code__.co_names)


STRAWBERRY_OVERRIDES = "dealgraph/schema/strawberry_overrides.py"


def test_strawberry_keeps_the_graphql_core_schema_in_schema_underscore_schema() -> None:
    built = graphql_core_schema(schema)
    assert isinstance(built, GraphQLSchema), moved(STRAWBERRY, "Schema._schema", STRAWBERRY_OVERRIDES)
    assert built.query_type is not None and built.query_type.name == "Query"


def test_strawberry_keeps_the_operation_name_the_client_sent() -> None:
    assert "provided_operation_name" in parameters(ExecutionContext), moved(
        STRAWBERRY, "ExecutionContext(provided_operation_name=)", STRAWBERRY_OVERRIDES
    )
    document = "query First { __typename } query Second { __typename }"
    named = ExecutionContext(document, schema, [OperationType.QUERY], provided_operation_name="Second")
    unnamed = ExecutionContext(document, schema, [OperationType.QUERY], graphql_document=parse(document))
    try:
        sent = provided_operation_name(named), provided_operation_name(unnamed)
    except AttributeError as error:
        raise AssertionError(
            moved(STRAWBERRY, "ExecutionContext._provided_operation_name", STRAWBERRY_OVERRIDES)
        ) from error
    assert sent == ("Second", None), moved(
        STRAWBERRY, "ExecutionContext._provided_operation_name", STRAWBERRY_OVERRIDES
    )
    assert unnamed.operation_name == "First"  # the public name's fallback, which the override exists to avoid


def test_strawberry_masks_results_through_process_result() -> None:
    what = "MaskErrors._process_result / _process_errors"
    assert parameters(MaskErrors._process_result) == ["self", "result"], moved(STRAWBERRY, what, STRAWBERRY_OVERRIDES)
    assert parameters(MaskErrors._process_errors) == ["self", "errors"], moved(STRAWBERRY, what, STRAWBERRY_OVERRIDES)
    assert "_process_result" in names_used(MaskErrors.on_operation), moved(STRAWBERRY, what, STRAWBERRY_OVERRIDES)
    result = ExecutionResult(data=None, errors=[GraphQLError("secret detail")])
    MaskErrorsWithoutProtocolCheck()._process_result(result)
    assert [error.message for error in result.errors or ()] == ["Unexpected error."], moved(
        STRAWBERRY, what, STRAWBERRY_OVERRIDES
    )


def test_strawberry_extension_stages_still_find_hooks_by_get_hook() -> None:
    """Not private by name, but internal: dealgraph/schema/extension_runner.py prepares hooks per class."""
    what, override = "extensions.context (get_hook, HOOK_NAME, WrappedHook)", "dealgraph/schema/extension_runner.py"
    assert parameters(ExtensionContextManagerBase.get_hook) == ["self", "extension"], moved(STRAWBERRY, what, override)
    assert OperationContextManager.HOOK_NAME == "on_operation", moved(STRAWBERRY, what, override)
    assert WrappedHook._fields == ("extension", "hook", "is_async"), moved(STRAWBERRY, what, override)
    assert "get_hook" in names_used(ExtensionContextManagerBase.__init__), moved(STRAWBERRY, what, override)


UVICORN_OVERRIDES = "dealgraph/server/uvicorn_overrides.py"


def test_uvicorn_health_checks_go_through_healthcheck() -> None:
    process = uvicorn_multiprocess.Process
    what = "supervisors.multiprocess.Process._healthcheck"
    assert parameters(vars(process)["_healthcheck"]) == ["self", "timeout"], moved(UVICORN, what, UVICORN_OVERRIDES)
    assert "_healthcheck" in names_used(process.ping) & names_used(process.is_ready), moved(
        UVICORN, what, UVICORN_OVERRIDES
    )
    assert {"parent_conn", "process"} <= names_used(process.__init__), moved(
        UVICORN, "Process.parent_conn / Process.process", UVICORN_OVERRIDES
    )
    assert issubclass(WatchedProcess, process)


def test_uvicorn_builds_its_process_handles_by_the_module_name_process() -> None:
    supervisor = uvicorn_multiprocess.Multiprocess
    builders = [
        name for name, member in vars(supervisor).items() if callable(member) and "Process" in names_used(member)
    ]
    assert builders, moved(
        UVICORN, "Multiprocess building its handles from the module global `Process`", UVICORN_OVERRIDES
    )


def test_uvicorn_supervisor_queues_its_signals_and_holds_the_sockets() -> None:
    supervisor = uvicorn_multiprocess.Multiprocess
    what = "Multiprocess.__init__ registering signal handlers that fill signal_queue / sockets"
    assert parameters(supervisor.__init__) == ["self", "config", "sockets"], moved(UVICORN, what, UVICORN_OVERRIDES)
    assert {"sockets", "signal_queue", "signal"} <= names_used(supervisor.__init__), moved(
        UVICORN, what, UVICORN_OVERRIDES
    )
    assert "signal_queue" in names_used(supervisor.handle_signals), moved(UVICORN, what, UVICORN_OVERRIDES)
    assert {"handle_signals", "keep_subprocess_alive", "terminate_all"} <= names_used(supervisor.run), moved(
        UVICORN, what, UVICORN_OVERRIDES
    )
    for method in ("keep_subprocess_alive", "terminate_all"):
        assert parameters(getattr(supervisor, method)) == ["self"], moved(UVICORN, what, UVICORN_OVERRIDES)
    assert issubclass(StopAcceptingMultiprocess, supervisor)
