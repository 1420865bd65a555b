"""A live event's GraphQL result computed once per process for every subscriber that asked the same thing.

graphql-core executes a subscription's selection set on each event for each subscriber: a result pushed
to a thousand subscribers of one analysis was executed a thousand times, identically. The services
layer already hands every subscriber the same event object (rows read once per process, snapshots
shared), and `to_graphql` converts each event once, so subscribers of one event receive the same root
object. This executor memoises the execution of an event by (that object, operation text, variables,
tenant, role): the first subscriber executes it, every other one gets the same result data.

Tenant and role are all a result may depend on besides the event and the operation: an event only
reaches subscribers of its tenant, permission classes look at the role, and no field reachable from an
event depends on who asks (viewer fields live on `Query`). A field that would must extend `_who`.
A result with errors is never shared: each subscriber then executes the event itself.
"""

from __future__ import annotations

import asyncio
import json
from collections import OrderedDict
from collections.abc import Awaitable, Hashable
from typing import Any, ClassVar, cast

from graphql import ExecutionResult
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_CAPACITY = 256
"""Event results kept: a burst of events times the distinct operations subscribed to them."""


class SharedEventExecution(StrawberryGraphQLCoreExecutionContext):
    _results: ClassVar[OrderedDict[Hashable, tuple[object, asyncio.Future[ExecutionResult]]]] = OrderedDict()
    _operation_key: Hashable = None
    _per_event = False
    executions: ClassVar[int] = 0
    """Events executed for subscribers (the rest were shared): what the fan-out tests count."""

    def build_per_event_executor(self, payload: Any) -> SharedEventExecution:
        if self._operation_key is None:  # once per subscription: its copies (one per event) share it
            self._operation_key = self._key_of_operation()
        executor = cast(SharedEventExecution, super().build_per_event_executor(payload))
        executor._per_event = True
        return executor

    def execute_operation(self, serially: bool | None = None) -> Any:
        if not self._per_event or self._operation_key is None:
            return super().execute_operation(serially)
        key = (id(self.root_value), self._operation_key)
        shared = self._results.get(key)
        if shared is not None and shared[0] is self.root_value:
            self._results.move_to_end(key)
            return self._await_shared(shared[1])
        SharedEventExecution.executions += 1
        result = cast(ExecutionResult | Awaitable[ExecutionResult], super().execute_operation(serially))
        flight: asyncio.Future[ExecutionResult] = (
            asyncio.ensure_future(result) if isinstance(result, Awaitable) else _done(result)
        )
        self._results[key] = (self.root_value, flight)  # the event object is kept with it: its id stays its own
        while len(self._results) > _CAPACITY:
            self._results.popitem(last=False)
        return _awaited(flight)

    async def _await_shared(self, flight: asyncio.Future[ExecutionResult]) -> ExecutionResult:
        result = await _awaited(flight)
        if result.errors:  # whatever went wrong for the first subscriber is not handed to the others
            SharedEventExecution.executions += 1
            own = cast(ExecutionResult | Awaitable[ExecutionResult], super().execute_operation(False))
            return await own if isinstance(own, Awaitable) else own
        return result

    def _key_of_operation(self) -> Hashable:
        context = self.context_value
        principal = getattr(context, "principal", None)
        if principal is None or self.operation.loc is None:
            return None
        variables = json.dumps(self.variable_values, sort_keys=True, default=str)
        return (self.operation.loc.source.body, _name(self), variables, principal.tenant_id, principal.role)


def _name(executor: StrawberryGraphQLCoreExecutionContext) -> str | None:
    return executor.operation.name.value if executor.operation.name else None


async def _awaited(flight: asyncio.Future[ExecutionResult]) -> ExecutionResult:
    # shield: a subscriber leaving must not cancel the execution the others are waiting for
    return await asyncio.shield(flight)


def _done(result: ExecutionResult) -> asyncio.Future[ExecutionResult]:
    future: asyncio.Future[ExecutionResult] = asyncio.get_running_loop().create_future()
    future.set_result(result)
    return future
