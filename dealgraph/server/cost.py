"""A cost limit: what depth, alias and token limits miss is fan-out, so bound the response's size.

`accounts(first: 100) { … deals(first: 100) { … } }` is shallow and short, yet asks for 10,000 deals.
The cost of an operation is the number of fields its response could hold: every field counts 1,
times the sizes of the lists around it. A connection's list is as long as its `first` argument
(a literal, or a variable's value; `default_page_size` without one); any other list computed by a
resolver counts as `max_list_size` (the server's page-size cap). Lists already held by their parent
object (e.g. the items of a stored agent result) are not fetched, so they count once.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLNamedType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
    VariableNode,
    get_named_type,
    get_nullable_type,
    is_list_type,
)
from strawberry.extensions import SchemaExtension

from dealgraph.errors import ErrorCode
from dealgraph.schema.strawberry_overrides import graphql_core_schema

_MAX_NESTING = 64  # deeper documents are refused by the depth limit; this only bounds recursion


class QueryCostLimiter(SchemaExtension):
    """Refuse, before execution, operations whose response could exceed `max_cost` fields.

    Example:

    ```python
    import strawberry
    from dealgraph.server.cost import QueryCostLimiter

    schema = strawberry.Schema(
        Query,
        extensions=[lambda: QueryCostLimiter(max_cost=25_000, default_page_size=20, max_list_size=100)],
    )
    ```

    The error has `extensions.code` QUERY_TOO_COMPLEX and names the cost and the limit; `setting`
    (e.g. an environment variable) is mentioned so the operator knows which knob it is.
    """

    def __init__(self, max_cost: int, default_page_size: int, max_list_size: int, setting: str = "max_cost") -> None:
        self.max_cost = max_cost
        self.default_page_size = default_page_size
        self.max_list_size = max_list_size
        self.setting = setting

    def on_validate(self) -> Iterator[None]:
        # Computed per operation, because a connection's size may come from the variables.
        context = self.execution_context
        variables = context.variables or {}
        if context.pre_execution_errors is None:  # validation is still to run: the check joins it
            context.validation_rules = (*context.validation_rules, cost_rule(self, variables))
        elif not context.pre_execution_errors:
            # An extension before this one validated already (`ShapeCheckedValidation`, keyed by
            # document and rules only): the variable-dependent cost is checked alone, never cached.
            assert context.graphql_document is not None
            context.pre_execution_errors = cost_errors(
                graphql_core_schema(context.schema), context.graphql_document, variables, self
            )
        yield


def cost_errors(
    schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], limiter: QueryCostLimiter
) -> list[GraphQLError]:
    """One error per operation of `document` whose response could exceed the limit."""
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    errors: list[GraphQLError] = []
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        root = schema.get_root_type(operation.operation)
        if root is None:
            continue
        total = _Costing(schema, fragments, _variable_values(operation, variables), limiter).of(
            operation.selection_set, root, None, 0
        )
        if total > limiter.max_cost:
            errors.append(
                GraphQLError(
                    f"Query too complex: its response could hold {total} fields, over the limit of "
                    f"{limiter.max_cost} ({limiter.setting}). Ask for smaller pages (`first`) or fewer "
                    "nested lists.",
                    operation,
                    extensions={"code": ErrorCode.QUERY_TOO_COMPLEX, "cost": total, "maxCost": limiter.max_cost},
                )
            )
    return errors


def cost_rule(limiter: QueryCostLimiter, variables: Mapping[str, Any]) -> type[ValidationRule]:
    """`cost_errors` as a validation rule, for when it runs with the rest of validation."""

    class QueryCostRule(ValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            for error in cost_errors(context.schema, context.document, variables, limiter):
                context.report_error(error)

    return QueryCostRule


def _variable_values(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> dict[str, Any]:
    """Sent values, else literal defaults: enough to size `first: $n`."""
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in variables:
            values[name] = variables[name]
        elif isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


class _Costing:
    def __init__(
        self,
        schema: GraphQLSchema,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any],
        limiter: QueryCostLimiter,
    ) -> None:
        self.schema = schema
        self.fragments = fragments
        self.variables = variables
        self.default_page_size = min(limiter.default_page_size, limiter.max_list_size)
        self.max_list_size = limiter.max_list_size
        self._fragment_costs: dict[tuple[str, int | None], int] = {}

    def of(self, selections: SelectionSetNode | None, parent: GraphQLNamedType, page: int | None, nesting: int) -> int:
        """`page`: the `first` of the connection `parent` is, which sizes its lists (edges)."""
        if selections is None or nesting > _MAX_NESTING:
            return 0
        total = 0
        for selection in selections.selections:
            if isinstance(selection, FieldNode):
                total += self._field(selection, parent, page, nesting)
            elif isinstance(selection, InlineFragmentNode):
                condition = selection.type_condition
                inner = self.schema.get_type(condition.name.value) if condition else parent
                total += self.of(selection.selection_set, inner or parent, page, nesting + 1)
            elif isinstance(selection, FragmentSpreadNode):
                total += self._fragment(selection.name.value, page, nesting)
        return total

    def _fragment(self, name: str, page: int | None, nesting: int) -> int:
        """Memoised: a fragment spread many times (or in a cycle) is costed once."""
        key = (name, page)
        if key not in self._fragment_costs:
            self._fragment_costs[key] = 0  # a cycle (refused by validation anyway) adds nothing
            fragment = self.fragments.get(name)
            inner = self.schema.get_type(fragment.type_condition.name.value) if fragment else None
            if fragment is not None and inner is not None:
                self._fragment_costs[key] = self.of(fragment.selection_set, inner, page, nesting + 1)
        return self._fragment_costs[key]

    def _field(self, node: FieldNode, parent: GraphQLNamedType, page: int | None, nesting: int) -> int:
        name = node.name.value
        field: GraphQLField | None = getattr(parent, "fields", {}).get(name)
        if name.startswith("__") or field is None:
            return 1  # introspection (bounded by the token limit) and unknown fields (refused by validation)
        size = self._list_size(field, page) if is_list_type(get_nullable_type(field.type)) else 1
        inner_page = self._first(node) if "first" in field.args else None
        return size * (1 + self.of(node.selection_set, get_named_type(field.type), inner_page, nesting + 1))

    def _list_size(self, field: GraphQLField, page: int | None) -> int:
        if page is not None:
            return page
        definition = field.extensions.get("strawberry-definition")
        computed = definition is None or getattr(definition, "base_resolver", None) is not None
        return self.max_list_size if computed else 1

    def _first(self, node: FieldNode) -> int:
        argument = next((a for a in node.arguments or () if a.name.value == "first"), None)
        if argument is None:
            return self.default_page_size
        value: object = None
        if isinstance(argument.value, IntValueNode):
            value = int(argument.value.value)
        elif isinstance(argument.value, VariableNode):
            value = self.variables.get(argument.value.name.value)
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= self.max_list_size:
            return value
        return self.max_list_size  # out of range (refused by the resolver) or not an integer
