"""Compiled reads answer exactly what the resolvers answer, in one statement, under the caller's tenant.

Every query here runs twice: on the app under test (compiled reads on) and on a second app over the same
database with them off, and the two HTTP responses must be equal, byte for byte once parsed. The data
has what trips a hand-written serializer: nulls, ties in every sort key, quotes and non-ASCII in sorted
names, enum columns, arrays.
"""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from dealgraph.config import Settings
from dealgraph.db.read_pool import ReadPool
from dealgraph.db.session import Database
from dealgraph.errors import TooManyRequests
from dealgraph.standin import RunningStandin
from harness.pg_statements import CountingProxy, Kind, by_kind
from harness.read_dataset import DatasetSize
from tests.support import (
    TenantFactory,
    TenantHandle,
    asgi_client,
    running_app,
    seed_reads,
    settings_through,
    statement_running,
    wait_for,
)

DATA = DatasetSize(accounts=4, deals=12, transcripts=30)


@pytest.fixture(scope="module")
def settings(counting_proxy: CountingProxy, standin_server: RunningStandin) -> Settings:
    """Through the counting proxy: statements are asserted below."""
    return settings_through(counting_proxy, standin_server.base_url)


@pytest.fixture(scope="module")
async def resolved(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The same database through the resolvers only."""
    async with running_app(settings.model_copy(update={"compiled_reads": False})) as app, asgi_client(app) as client:
        yield client


async def seeded_tenant(tenants: TenantFactory, database: Database) -> TenantHandle:
    who = await tenants.create()
    await seed_reads(database, who.tenant_id, DATA)
    async with database.owner_session() as session:
        raw = await (await session.connection()).get_raw_connection()
        connection = raw.driver_connection
        tenant = who.tenant_id
        # nulls, ties in each sort key (the id decides), and names whose cursor text needs escaping
        await connection.execute(
            "UPDATE deals SET amount = NULL, close_date = NULL WHERE tenant_id = $1 AND name IN ('Deal 00001', "
            "'Deal 00002')",
            tenant,
        )
        await connection.execute(
            "UPDATE deals SET amount = 500, close_date = '2027-03-01' WHERE tenant_id = $1 AND name IN "
            "('Deal 00003', 'Deal 00004', 'Deal 00005')",
            tenant,
        )
        await connection.execute(
            """UPDATE deals SET name = CASE name WHEN 'Deal 00006' THEN 'Zoë "quoted" \\ back'
               WHEN 'Deal 00007' THEN 'zoë "QUOTED" \\ back' ELSE 'Ünïcode ☃ deal' END
               WHERE tenant_id = $1 AND name IN ('Deal 00006', 'Deal 00007', 'Deal 00008')""",
            tenant,
        )
        await connection.execute(
            "UPDATE deals SET updated_at = '2026-01-01T00:00:00.5+00' WHERE tenant_id = $1 AND name LIKE 'Deal 0001%'",
            tenant,
        )
        await connection.execute(
            "UPDATE accounts SET domain = NULL WHERE tenant_id = $1 AND name = 'Account 0001'", tenant
        )
        await connection.execute(
            "UPDATE transcripts SET occurred_at = '2026-05-05T10:00:00.123+00' WHERE tenant_id = $1 AND title IN "
            "(SELECT title FROM transcripts WHERE tenant_id = $1 ORDER BY title LIMIT 6)",
            tenant,
        )
    return who


@pytest.fixture(scope="module")
async def alice(app: Starlette, tenants: TenantFactory) -> TenantHandle:
    return await seeded_tenant(tenants, app.state.database)


@pytest.fixture(scope="module")
async def bob(app: Starlette, tenants: TenantFactory) -> TenantHandle:
    return await seeded_tenant(tenants, app.state.database)


async def post(
    client: httpx.AsyncClient, who: TenantHandle, query: str, variables: dict[str, Any] | None = None
) -> Any:
    response = await client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=who.headers)
    return response.status_code, response.json()


async def same_answer(
    http: httpx.AsyncClient,
    resolved: httpx.AsyncClient,
    who: TenantHandle,
    query: str,
    variables: dict[str, Any] | None = None,
) -> Any:
    compiled = await post(http, who, query, variables)
    assert compiled == await post(resolved, who, query, variables)
    return compiled[1]


DEAL_FIELDS = """
  __typename id name stage amount currency closeDate createdAt updatedAt
  account { __typename id name domain createdAt updatedAt }
  transcripts(first: 2) {
    __typename
    edges { __typename cursor node { __typename id title occurredAt sourceFormat language participants contentHash
                                    utteranceCount createdAt } }
    pageInfo { __typename hasNextPage hasPreviousPage startCursor endCursor }
  }
"""
PAGE_INFO = "pageInfo { hasNextPage hasPreviousPage startCursor endCursor }"


async def test_every_field_of_a_deal_page(
    http: httpx.AsyncClient, resolved: httpx.AsyncClient, alice: TenantHandle
) -> None:
    body = await same_answer(
        http, resolved, alice, f"{{ deals(first: 12) {{ edges {{ cursor node {{ {DEAL_FIELDS} }} }} {PAGE_INFO} }} }}"
    )
    deals = body["data"]["deals"]["edges"]
    assert len(deals) == 12 and all(edge["node"]["transcripts"]["edges"] for edge in deals)
    assert {edge["node"]["amount"] for edge in deals} >= {None, "500.00"}


@pytest.mark.parametrize("field", ["CREATED_AT", "UPDATED_AT", "NAME", "AMOUNT", "CLOSE_DATE", "TALK_RATIO"])
@pytest.mark.parametrize("direction", ["ASC", "DESC"])
async def test_every_order_paged_to_the_end(
    http: httpx.AsyncClient, resolved: httpx.AsyncClient, alice: TenantHandle, field: str, direction: str
) -> None:
    """Page by page with the cursors each path hands out: the same rows, cursors and page info."""
    query = (
        "query Page($after: String, $order: DealOrder) { deals(first: 5, after: $after, orderBy: $order) { "
        f"edges {{ cursor node {{ name amount closeDate }} }} {PAGE_INFO} }} }}"
    )
    after, names = None, []
    while True:
        body = await same_answer(
            http, resolved, alice, query, {"after": after, "order": {"field": field, "direction": direction}}
        )
        page = body["data"]["deals"]
        names += [edge["node"]["name"] for edge in page["edges"]]
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert len(names) == len(set(names)) == 12


async def test_accounts_with_their_deals_and_transcripts_with_their_deal(
    http: httpx.AsyncClient, resolved: httpx.AsyncClient, alice: TenantHandle
) -> None:
    body = await same_answer(
        http,
        resolved,
        alice,
        f"""{{
          __typename
          accounts(first: 3) {{ edges {{ cursor node {{ id name domain deals(first: 2) {{
            edges {{ cursor node {{ name account {{ name }} }} }} {PAGE_INFO} }} }} }} {PAGE_INFO} }}
          transcripts {{ edges {{ node {{ title deal {{ name account {{ domain }} }} }} }} {PAGE_INFO} }}
        }}""",
    )
    assert len(body["data"]["accounts"]["edges"]) == 3 and len(body["data"]["transcripts"]["edges"]) == 20
    first_account = body["data"]["accounts"]["edges"][0]["node"]
    after = first_account["deals"]["pageInfo"]["endCursor"]
    await same_answer(
        http,
        resolved,
        alice,
        "query More($after: String) { accounts(first: 1) { edges { node { deals(first: 2, after: $after) { "
        f"edges {{ cursor node {{ name }} }} {PAGE_INFO} }} }} }} }}",
        {"after": after},
    )


async def test_fragments_aliases_directives_and_variable_defaults(
    http: httpx.AsyncClient, resolved: httpx.AsyncClient, alice: TenantHandle
) -> None:
    await same_answer(
        http,
        resolved,
        alice,
        """query Shapes($withAccount: Boolean!, $skipStage: Boolean = true, $first: Int = 3) {
          top: deals(first: $first, orderBy: {field: AMOUNT, direction: DESC}) { edges { node { ...DealBits } } }
          newest: deals(first: 2) {
            edges { node { ... on Node { id } ... on Deal { name } stage @skip(if: $skipStage)
              account @include(if: $withAccount) { name ... { domain } }
              one: transcripts(first: 1) { edges { node { title } } }
              two: transcripts(first: 2) { edges { node { t: title occurredAt } } } } }
          }
        }
        fragment DealBits on Deal { name amount account { ...AccountBits } }
        fragment AccountBits on Account { name domain }""",
        {"withAccount": True},
    )


@pytest.mark.parametrize(
    ("query", "variables"),
    [
        ("{ deals(first: -1) { edges { node { name } } } }", None),
        ("{ deals(first: 1000) { edges { node { name } } } }", None),
        ('{ deals(after: "not a cursor") { edges { node { name } } } }', None),
        ("{ deals(last: 2) { edges { node { name } } } }", None),
        ('{ deals(before: "x") { edges { node { name } } } }', None),
        ("query Q($first: Int) { deals(first: $first) { edges { node { name } } } }", {"first": "abc"}),
        ("query Q($o: DealOrder) { deals(orderBy: $o) { edges { node { name } } } }", {"o": {"field": "NOPE"}}),
        ('{ deals { edges { node { name transcripts(after: "bad") { edges { cursor } } } } } }', None),
        ("{ deals(first: 2) { totalCount edges { node { name } } } }", None),
        ("{ deals(first: 0) { edges { cursor } pageInfo { hasNextPage endCursor } } }", None),
        (
            "{ deals(first: 1) { edges { node { transcripts(first: 0) { edges { cursor } pageInfo { hasNextPage } } } } } }",
            None,
        ),
        ('{ deals(after: "WyJhY2NvdW50LWRlYWxzIiwgMF0=") { edges { node { name } } } }', None),  # another list's cursor
        ("{ deals(first: 2, filter: {stages: [WON]}) { edges { node { name stage } } } }", None),
        ("{ deals(first: 2) { edges { node { name owner { email } } } } }", None),
        ("query Q($a: String) { deals(after: $a) { edges { node { name } } } }", {"a": "nul\u0000"}),
    ],
)
async def test_edge_cases_refusals_and_fields_it_leaves_to_the_resolvers(
    http: httpx.AsyncClient,
    resolved: httpx.AsyncClient,
    alice: TenantHandle,
    query: str,
    variables: dict[str, Any] | None,
) -> None:
    """Empty pages and foreign cursors answer alike; refusals keep their exact errors; fields it does not compile
    run through the resolvers."""
    await same_answer(http, resolved, alice, query, variables)


def forged(*values: str) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(values)).encode()).decode()


NO_ID = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(
    ("root", "cursor"),
    [
        ("deals(orderBy: {field: AMOUNT}", forged("deal-amount", "abc", NO_ID)),
        ("deals(orderBy: {field: AMOUNT}", forged("deal-amount", "1e400", NO_ID)),
        ("deals(orderBy: {field: AMOUNT}", forged("deal-amount", "1.00", "not-a-uuid")),
        ("deals(orderBy: {field: CLOSE_DATE}", forged("deal-close_date", "2027-W01-1", NO_ID)),
        ("deals(orderBy: {field: CREATED_AT}", forged("deal-created_at", "yesterday", NO_ID)),
        ("accounts(", forged("account-name", "a\u0000b", NO_ID)),
        ("accounts(", forged("account-name", "a\ud800", NO_ID)),
        ("transcripts(", forged("transcript-recent", "2026-13-05 10:00:00+00", NO_ID)),
    ],
)
async def test_a_forged_cursor_is_bad_user_input_on_both_paths(
    http: httpx.AsyncClient, resolved: httpx.AsyncClient, alice: TenantHandle, root: str, cursor: str
) -> None:
    """A cursor is opaque, not tamper-proof: one whose position PostgreSQL could not cast is refused before SQL."""
    query = f"query Q($a: String) {{ page: {root} after: $a) {{ edges {{ node {{ id }} }} }} }}"
    for client in (http, resolved):
        status, body = await post(client, alice, query, {"a": cursor})
        assert status == 200 and [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"], body
        assert body["errors"][0]["message"] == "'after' is not a cursor of this list."


async def test_each_tenant_reads_its_own_rows_on_shared_connections(
    http: httpx.AsyncClient,
    resolved: httpx.AsyncClient,
    alice: TenantHandle,
    bob: TenantHandle,
    counting_proxy: CountingProxy,
) -> None:
    """Interleaved, concurrent: the read pool's connections switch tenants between requests."""
    query = "{ deals(first: 50) { edges { node { id account { id } transcripts { edges { node { id } } } } } } }"
    expected = {who.tenant_id: (await post(resolved, who, query)) for who in (alice, bob)}
    assert expected[alice.tenant_id] != expected[bob.tenant_id]
    order = [alice, bob] * 15
    answers = await asyncio.gather(*(post(http, who, query) for who in order))
    for who, answer in zip(order, answers, strict=True):
        assert answer == expected[who.tenant_id]
    with counting_proxy.log.window() as capture:  # a switch costs one statement, and only a switch
        await post(http, alice, query)
        await post(http, alice, query)
    assert by_kind(capture.statements).get(Kind.DATA) == 2
    assert by_kind(capture.statements).get(Kind.SCOPE, 0) <= 1


async def test_read_pool_connections_are_the_app_role_read_only_and_fail_closed(
    app: Starlette, settings: Settings, alice: TenantHandle
) -> None:
    reads = app.state.database.reads
    row = await reads.fetchrow(
        alice.tenant_id,
        "SELECT current_user, current_setting('transaction_read_only'), "
        "(SELECT rolbypassrls FROM pg_roles WHERE rolname = current_user), dealgraph_current_tenant()",
        [],
    )
    assert tuple(row) == (settings.app_role, "on", False, alice.tenant_id)
    nobody = uuid.uuid4()
    assert (await reads.fetchrow(nobody, "SELECT count(*) FROM deals", []))[0] == 0


async def test_a_cancelled_tenant_switch_never_reads_as_the_wrong_tenant(
    app: Starlette, alice: TenantHandle, bob: TenantHandle
) -> None:
    """Cancelled at every point of the switch, the next read on that connection is still the right tenant's."""
    reads = app.state.database.reads
    query = "SELECT dealgraph_current_tenant()"
    for steps in range(8):
        read = asyncio.ensure_future(reads.fetchrow(bob.tenant_id, query, []))
        for _ in range(steps):
            await asyncio.sleep(0)
        read.cancel()
        try:
            await read
        except asyncio.CancelledError:
            pass
        for who in (alice, bob):
            assert (await reads.fetchrow(who.tenant_id, query, []))[0] == who.tenant_id


async def test_a_connection_the_server_closed_is_replaced(
    app: Starlette, http: httpx.AsyncClient, alice: TenantHandle
) -> None:
    query = "{ deals(first: 1) { edges { node { name } } } }"
    await post(http, alice, query)
    async with app.state.database.owner_session() as session:
        raw = await (await session.connection()).get_raw_connection()
        await raw.driver_connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = current_user "
            "AND pid <> pg_backend_pid() AND query LIKE 'SELECT ARRAY(SELECT ROW(%'"
        )
    for _ in range(3):
        status, body = await post(http, alice, query)
        assert status == 200 and "errors" not in body, body


async def test_no_free_read_connection_is_too_many_requests(settings: Settings, alice: TenantHandle) -> None:
    reads_url = settings.database_url or ""
    reads = ReadPool(reads_url, app_role=settings.app_role, size=1, acquire_timeout_s=0.2)
    try:
        busy = asyncio.ensure_future(reads.fetchrow(alice.tenant_id, "SELECT pg_sleep(1)", []))
        await wait_for(lambda: statement_running(reads_url, "SELECT pg_sleep(1)"))  # connected and sleeping
        with pytest.raises(TooManyRequests):
            await reads.fetchrow(alice.tenant_id, "SELECT 1", [])
        await busy
        assert (await reads.fetchrow(alice.tenant_id, "SELECT 1", []))[0] == 1
    finally:
        await reads.close()
