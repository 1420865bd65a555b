"""A query's selection as a compiled read: which rows to read (`graph_reads.ListRead`) and how to write them.

The planner walks the operation as graphql-core would (fields by response key in order, fragments, type
conditions, `@skip`/`@include`), reads arguments as given, and decides before anything is read: anything it
does not know, and any input the resolvers would refuse, raises `Unanswerable`, and the operation runs
through the resolvers instead.

>>> plan = Planner(schema, document, variables, max_page_size=100).plan(operation)
>>> plan.lists  # what one statement reads
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    EnumValueNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    NullValueNode,
    ObjectValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    StringValueNode,
    ValueNode,
    VariableNode,
    get_named_type,
)

from dealgraph.agents.kinds import AgentKind
from dealgraph.db.repositories.graph_reads import (
    ChildrenRead,
    ExtraRead,
    HealthRecord,
    ListRead,
    ParentRead,
    Row,
    RowRead,
    has_column,
    root_sort,
)
from dealgraph.errors import BadUserInput
from dealgraph.schema.common import SortDirection
from dealgraph.schema.compiled_reads.writing import (
    ConnectionWriter,
    Step,
    Unanswerable,
    Write,
    constant,
    global_id,
    object_writer,
    parent,
)
from dealgraph.schema.health import DealHealth
from dealgraph.schema.qualification import DealQualification
from dealgraph.schema.rows import column_of, stored_value
from dealgraph.services.deals import DealOrderField
from dealgraph.services.health import DealHealthView
from dealgraph.services.pagination import DEFAULT_PAGE_SIZE, encode_cursor, keyset_position, offset_after
from dealgraph.services.qualification import calls_of, roll_up

_DEFINITION = "strawberry-definition"  # where strawberry keeps a GraphQL field's own definition


@dataclass(frozen=True, slots=True)
class _Node:
    table: str
    parents: Mapping[str, str]
    """GraphQL field -> this table's column holding the parent's id."""
    children: Mapping[str, tuple[str, str]]
    """GraphQL connection field -> (graph_reads.CHILD_LISTS relation, the kind its offset cursors name)."""
    computed: Mapping[str, tuple[ExtraRead, Callable[[Any], Any]]] = field(default_factory=dict)
    """GraphQL field -> what is read for it, and the object its resolver would return, made from that."""


@lru_cache(maxsize=4096)
def _health(record: HealthRecord | None) -> DealHealth:
    """Remembered by the row's content: a board is read far more often than its deals' health changes, parsing
    the stored JSON (dates, enums, evidence ids) was most of a page's CPU, and writing only reads the object."""
    return DealHealth.of(DealHealthView.of(None if record is None else record.stored()))


_UNQUALIFIED = DealQualification.of(roll_up([]))
"""A deal without an analysed call, most of a board: rolled up once (writing only reads it)."""


def _qualification(results: list[tuple[Any, ...]]) -> DealQualification:
    return DealQualification.of(roll_up(calls_of(results))) if results else _UNQUALIFIED


_NODES: dict[str, _Node] = {
    "Deal": _Node(
        "deals",
        {"account": "account_id"},
        {"transcripts": ("transcripts_by_deal", "deal-transcripts")},
        {
            "health": (ExtraRead("health"), _health),
            "qualification": (ExtraRead("results", AgentKind.MEDDPICC.value), _qualification),
        },
    ),
    "Account": _Node("accounts", {}, {"deals": ("deals_by_account", "account-deals")}),
    "Transcript": _Node("transcripts", {"deal": "deal_id"}, {}),
}
_ROOTS = frozenset({"deals", "accounts", "transcripts"})
"""Query fields that are a root list (each named as its `graph_reads` listing), when given no filter."""
ROOT_NAMES = _ROOTS | {"__typename"}
_PAGE_INFO = ("hasNextPage", "hasPreviousPage", "startCursor", "endCursor")


@dataclass(slots=True)
class _RowBuilder:
    """What the fields selected so far read of one table's rows; `read()` once they are all planned."""

    table: str
    columns: dict[str, None] = field(default_factory=dict)  # ordered and without repeats
    parents: list[ParentRead] = field(default_factory=list)
    children: list[ChildrenRead] = field(default_factory=list)
    extras: list[ExtraRead] = field(default_factory=list)

    def read(self) -> RowRead:
        return RowRead(self.table, tuple(self.columns), tuple(self.parents), tuple(self.children), tuple(self.extras))


@dataclass(slots=True)
class Plan:
    lists: list[ListRead]
    positions: list[list[str]]
    writers: list[tuple[str, str | tuple[int, ConnectionWriter]]]
    """Per response key of the root: the `__typename` string, or the index of its list and its connection."""
    first_list: tuple[str, FieldNode] | None = None
    """The first root list's response key and field: where an error of the whole read is reported."""


class Planner:
    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, variables: Mapping[str, Any], max_page_size: int
    ) -> None:
        self.schema = schema
        self.fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
        self.variables = variables
        self.max_page_size = max_page_size

    # -- selections

    def collect(self, type_: GraphQLObjectType, nodes: Iterable[FieldNode]) -> dict[str, list[FieldNode]]:
        """The fields selected on `type_` under `nodes`, by response key, in response order (as graphql-core)."""
        fields: dict[str, list[FieldNode]] = {}
        for node in nodes:
            if node.selection_set is not None:
                self._visit(type_, node.selection_set, fields)
        return fields

    def _visit(
        self, type_: GraphQLObjectType, selections: SelectionSetNode, fields: dict[str, list[FieldNode]]
    ) -> None:
        for selection in selections.selections:
            if not self._included(selection.directives or ()):
                continue
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                fields.setdefault(key, []).append(selection)
            elif isinstance(selection, InlineFragmentNode):
                if selection.type_condition is None or self._applies(selection.type_condition.name.value, type_):
                    self._visit(type_, selection.selection_set, fields)
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments[selection.name.value]
                if self._applies(fragment.type_condition.name.value, type_):
                    self._visit(type_, fragment.selection_set, fields)

    def _applies(self, condition: str, type_: GraphQLObjectType) -> bool:
        named = self.schema.get_type(condition)
        if named is type_:
            return True
        return named is not None and not isinstance(named, GraphQLObjectType) and self.schema.is_sub_type(named, type_)  # type: ignore[arg-type]

    def _included(self, directives: Iterable[Any]) -> bool:
        for directive in directives:
            name = directive.name.value
            if name not in ("skip", "include"):
                raise Unanswerable  # @defer, @stream, anything else: the executor's business
            condition = self.value(directive.arguments[0].value) if directive.arguments else None
            if not isinstance(condition, bool):
                raise Unanswerable
            if condition is (name == "skip"):
                return False
        return True

    # -- argument values, as given (validation has checked literals, not variables)

    def value(self, node: ValueNode) -> Any:
        return argument_value(node, self.variables)

    def arguments(self, node: FieldNode, allowed: Iterable[str]) -> dict[str, Any]:
        given = {argument.name.value: self.value(argument.value) for argument in node.arguments or ()}
        if any(value is not None for name, value in given.items() if name not in allowed):
            raise Unanswerable  # a filter, a search, `last`/`before`: the resolvers' business
        return given

    def page_size(self, first: Any) -> int:
        size = DEFAULT_PAGE_SIZE if first is None else first
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= self.max_page_size:
            raise Unanswerable
        return size

    # -- the operation

    def plan(self, operation: OperationDefinitionNode) -> Plan:
        query = self.schema.query_type
        assert query is not None
        plan = Plan([], [], [])
        fields: dict[str, list[FieldNode]] = {}
        self._visit(query, operation.selection_set, fields)
        for key, nodes in fields.items():
            name = nodes[0].name.value
            if name == "__typename":
                plan.writers.append((key, query.name))
                continue
            if name not in _ROOTS or len(nodes) != 1:
                raise Unanswerable
            plan.first_list = plan.first_list or (key, nodes[0])
            plan.writers.append((key, (len(plan.lists), self._root(query.fields[name], nodes[0], plan))))
        if not plan.lists:
            raise Unanswerable  # nothing to read: the executor answers as cheaply
        return plan

    def _root(self, field: GraphQLField, node: FieldNode, plan: Plan) -> ConnectionWriter:
        listing = node.name.value
        arguments = self.arguments(node, ("first", "after", "orderBy"))
        first = self.page_size(arguments.get("first"))
        sort_field, descending = self._order(listing, arguments.get("orderBy"))
        sort = root_sort(listing, sort_field, descending)
        after = arguments.get("after")
        position: list[str] = []
        if after is not None:
            if not isinstance(after, str):
                raise Unanswerable
            try:
                position = list(keyset_position(after, sort))
            except BadUserInput:
                raise Unanswerable from None
        row, connection = self._connection(
            field,
            node,
            lambda _index, row: encode_cursor(sort.name, *(row.position or ())),
            has_previous_page=after is not None,
        )
        plan.lists.append(ListRead(listing, sort_field, descending, first, after is not None, row))
        plan.positions.append(position)
        return connection

    def _order(self, listing: str, order: Any) -> tuple[str, bool]:
        if listing != "deals":
            if order is not None:
                raise Unanswerable
            return "", False  # the listing's one order
        order = {} if order is None else order
        if not isinstance(order, dict) or not set(order) <= {"field", "direction"}:
            raise Unanswerable
        try:
            field = DealOrderField[order.get("field") or DealOrderField.CREATED_AT.name]
            direction = SortDirection[order.get("direction") or SortDirection.DESC.name]
        except (KeyError, TypeError):
            raise Unanswerable from None
        return field.value, direction is SortDirection.DESC

    def _connection(
        self, field: GraphQLField, node: FieldNode, cursor: Callable[[int, Row], str], *, has_previous_page: bool
    ) -> tuple[RowRead, ConnectionWriter]:
        connection_type = _object(field.type)
        edge_type = _object(connection_type.fields["edges"].type)
        node_type = _object(edge_type.fields["node"].type)
        row = _RowBuilder(_node(node_type).table)
        fields: list[tuple[str, str, Any]] = []
        for key, nodes in self.collect(connection_type, [node]).items():
            name = nodes[0].name.value
            if name == "__typename":
                fields.append((key, "typename", connection_type.name))
            elif name == "pageInfo":
                info_type = _object(connection_type.fields["pageInfo"].type)
                selected = [
                    (sub, info_type.name if sub_nodes[0].name.value == "__typename" else sub_nodes[0].name.value)
                    for sub, sub_nodes in self.collect(info_type, nodes).items()
                ]
                if any(name not in (*_PAGE_INFO, info_type.name) for _, name in selected):
                    raise Unanswerable
                fields.append((key, "pageInfo", selected))
            elif name == "edges":
                edge_fields: list[tuple[str, str, Any]] = []
                for edge_key, edge_nodes in self.collect(edge_type, nodes).items():
                    edge_name = edge_nodes[0].name.value
                    if edge_name == "__typename":
                        edge_fields.append((edge_key, "typename", edge_type.name))
                    elif edge_name == "cursor":
                        edge_fields.append((edge_key, "cursor", None))
                    elif edge_name == "node":
                        edge_fields.append((edge_key, "node", self._object(node_type, edge_nodes, row)))
                    else:
                        raise Unanswerable
                fields.append((key, "edges", edge_fields))
            else:
                raise Unanswerable  # totalCount and anything else
        return row.read(), ConnectionWriter(fields, cursor, has_previous_page)

    def _object(self, type_: GraphQLObjectType, nodes: list[FieldNode], row: _RowBuilder) -> Write:
        """Adds what `nodes` select of `type_` to `row`'s read; returns the writer of its objects."""
        spec = _node(type_)
        steps: list[Step] = []
        for key, field_nodes in self.collect(type_, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                steps.append(constant(key, type_.name))
            elif name == "id":
                steps.append(global_id(key, type_.name))
            elif name in spec.parents:
                if any(n.arguments for n in field_nodes):
                    raise Unanswerable
                parent_type = _object(type_.fields[name].type)
                parent_row = _RowBuilder(_node(parent_type).table)
                write = self._object(parent_type, field_nodes, parent_row)
                required = isinstance(type_.fields[name].type, GraphQLNonNull)
                steps.append(parent(key, len(row.parents), write, required))
                row.parents.append(ParentRead(spec.parents[name], parent_row.read()))
            elif name in spec.children:
                if len(field_nodes) != 1:
                    raise Unanswerable
                steps.append(self._children(key, type_.fields[name], field_nodes[0], spec.children[name], row))
            elif name in spec.computed:
                steps.append(self._computed(key, type_.fields[name], field_nodes, spec.computed[name], row))
            else:
                steps.append(self._column(key, type_, name, row))
        return object_writer(steps)

    def _children(
        self, key: str, field: GraphQLField, node: FieldNode, relation: tuple[str, str], parent_row: _RowBuilder
    ) -> Step:
        name, kind = relation
        arguments = self.arguments(node, ("first", "after"))
        first = self.page_size(arguments.get("first"))
        after = arguments.get("after")
        if after is not None and not isinstance(after, str):
            raise Unanswerable
        try:
            start = offset_after(after, kind)
        except BadUserInput:
            raise Unanswerable from None
        row, connection = self._connection(
            field, node, lambda index, _row: encode_cursor(kind, start + index), has_previous_page=start > 0
        )
        index = len(parent_row.children)
        parent_row.children.append(ChildrenRead(name, start, first, row))

        def write(into: dict[str, Any], parent: Row) -> None:
            into[key] = connection.write(parent.children[index])

        return write

    def _computed(
        self,
        key: str,
        field: GraphQLField,
        nodes: list[FieldNode],
        computed: tuple[ExtraRead, Callable[[Any], Any]],
        row: _RowBuilder,
    ) -> Step:
        extra, make = computed
        if any(node.arguments for node in nodes):
            raise Unanswerable
        write_value = self._value(field.type, nodes)
        index = len(row.extras)
        row.extras.append(extra)

        def write(into: dict[str, Any], read: Row) -> None:
            into[key] = write_value(make(read.extras[index]))

        return write

    def _value(self, output_type: Any, nodes: list[FieldNode]) -> Callable[[Any], Any]:
        """Writes a value of `output_type` made of plain strawberry objects (a resolver's result) as the executor
        would; a field below it with a resolver of its own (a quote's transcript, ...) is the resolvers' business."""
        nullable = not isinstance(output_type, GraphQLNonNull)
        inner = output_type if nullable else output_type.of_type
        each: Callable[[Any], Any]
        if isinstance(inner, GraphQLList):
            item = self._value(inner.of_type, nodes)

            def each(values: Any) -> Any:
                return [item(value) for value in values]

        elif isinstance(inner, GraphQLObjectType):
            each = self._plain_object(inner, nodes)
        else:
            each = inner.coerce_output_value  # a scalar or an enum

        def write(value: Any) -> Any:
            if value is None:
                if not nullable:
                    raise Unanswerable  # the executor reports the error
                return None
            return each(value)

        return write

    def _plain_object(self, type_: GraphQLObjectType, nodes: list[FieldNode]) -> Callable[[Any], dict[str, Any]]:
        fields: list[tuple[str, str | None, Callable[[Any], Any]]] = []
        for key, field_nodes in self.collect(type_, nodes).items():
            name = field_nodes[0].name.value
            if name == "__typename":
                fields.append((key, None, lambda _value: type_.name))
                continue
            field = type_.fields.get(name)
            definition = field.extensions.get(_DEFINITION) if field else None
            if (
                field is None
                or definition is None
                or definition.base_resolver is not None
                or definition.permission_classes
                or any(node.arguments for node in field_nodes)
            ):
                raise Unanswerable
            fields.append((key, definition.python_name, self._value(field.type, field_nodes)))

        def write(value: Any) -> dict[str, Any]:
            return {
                key: write_field(value if attribute is None else getattr(value, attribute))
                for key, attribute, write_field in fields
            }

        return write

    def _column(self, key: str, type_: GraphQLObjectType, name: str, row: _RowBuilder) -> Step:
        field = type_.fields.get(name)
        definition = field.extensions.get(_DEFINITION) if field else None
        if field is None or definition is None or definition.base_resolver is not None:
            raise Unanswerable  # computed by a resolver (search status, analyses, utterances, ...)
        column = column_of(definition)
        if not has_column(row.table, column):
            raise Unanswerable
        row.columns[column] = None
        to_python = stored_value(definition.type)
        leaf = get_named_type(field.type)
        is_list = isinstance(field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type, GraphQLList)
        nullable = not isinstance(field.type, GraphQLNonNull)
        coerce = leaf.coerce_output_value  # type: ignore[union-attr,unused-ignore]  # a column: a scalar or an enum

        def write(into: dict[str, Any], read: Row) -> None:
            value = read.values[column]
            if value is None:
                if not nullable:
                    raise Unanswerable  # the executor reports the error
                into[key] = None
            elif is_list:
                into[key] = [coerce(to_python(item)) for item in value]
            else:
                into[key] = coerce(to_python(value))

        return write


def argument_value(node: ValueNode, variables: Mapping[str, Any]) -> Any:
    """An argument's value as given: enum names as text, input objects as dicts (variables are not coerced)."""
    if isinstance(node, VariableNode):
        return variables.get(node.name.value)
    if isinstance(node, NullValueNode):
        return None
    if isinstance(node, IntValueNode):
        return int(node.value)
    if isinstance(node, StringValueNode | EnumValueNode):
        return node.value
    if isinstance(node, ObjectValueNode):
        return {field.name.value: argument_value(field.value, variables) for field in node.fields}
    if isinstance(node, ListValueNode):
        return [argument_value(item, variables) for item in node.values]
    return getattr(node, "value", None)


def _object(output_type: Any) -> GraphQLObjectType:
    named = get_named_type(output_type)
    if not isinstance(named, GraphQLObjectType):
        raise Unanswerable
    return named


def _node(type_: GraphQLObjectType) -> _Node:
    spec = _NODES.get(type_.name)
    if spec is None:
        raise Unanswerable
    return spec
