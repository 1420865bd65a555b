"""Mutations racing each other answer as if they had run one after the other: CONFLICT or NOT_FOUND, never an
INTERNAL_SERVER_ERROR from a unique or foreign key violation, and nothing saved twice.

Each race is made certain rather than hoped for: a transaction of the test's own holds a row lock the racing
requests need, every request is seen waiting for a lock, and only then does that transaction end.
"""

from __future__ import annotations

import uuid
from typing import Any

from dealgraph.services.ids import node_uuid
from harness.postgres import connected
from tests.factories import create_deal_with_account
from tests.graphql_documents import ADD_TRANSCRIPT, CREATE_TRANSCRIPT_VARS
from tests.races import mutation, payloads_once_blocked
from tests.support import GraphQLClient, TenantFactory, TenantHandle

CREATE_VERSION = """
mutation($input: PromptVersionInput!) {
  createPromptVersion(input: $input) { promptVersion { id version template { id } } errors { field code } }
}"""
SET_LABEL = """
mutation($t: ID!, $label: String!, $v: ID!) {
  setPromptLabel(templateId: $t, label: $label, versionId: $v) { label { name version { version } } errors { field code } }
}"""
LOCK_TEMPLATE = "SELECT 1 FROM prompt_templates WHERE id = $1 FOR UPDATE"
VERSION = {"systemText": "You analyse sales calls.", "userTemplate": "Call the `{{ agent }}` tool."}


def codes(payloads: list[dict[str, Any]]) -> list[list[str]]:
    return sorted([error["code"] for error in payload["errors"]] for payload in payloads)


async def test_identical_transcripts_racing_add_one_and_the_other_conflicts(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """Both pass the duplicate check before either is saved; the second insert waits for the first's commit."""
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    add = {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": deal_id, "title": "race"}}
    async with connected(database_url) as holder:
        lock = holder.transaction()
        await lock.start()
        # the deal row, which the transcript's foreign key check locks: held, the first insert waits there
        await holder.execute("SELECT 1 FROM deals WHERE id = $1 FOR UPDATE", node_uuid(deal_id, "Deal"))
        payloads = await payloads_once_blocked(
            database_url, [mutation(gql, who, ADD_TRANSCRIPT, add) for _ in range(2)], lock.commit()
        )
        saved = await holder.fetchval("SELECT count(*) FROM transcripts WHERE tenant_id = $1", who.tenant_id)
    assert codes(payloads) == [[], ["CONFLICT"]]
    added = next(payload["transcript"] for payload in payloads if not payload["errors"])
    conflict = next(payload["errors"][0] for payload in payloads if payload["errors"])
    assert conflict["field"] == "input.content" and str(node_uuid(added["id"], "Transcript")) in conflict["message"]
    assert saved == 1


async def test_transcript_added_while_its_deal_is_deleted_is_not_found(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """The deal is deleted (not yet committed) when the request looks for it, and is gone once the deletion commits."""
    who = await tenants.create()
    deal_id = (await create_deal_with_account(gql, who))["id"]
    add = {"input": {**CREATE_TRANSCRIPT_VARS, "dealId": deal_id}}
    async with connected(database_url) as holder:
        deletion = holder.transaction()
        await deletion.start()
        await holder.execute("DELETE FROM deals WHERE id = $1", node_uuid(deal_id, "Deal"))  # as deleteDeal does
        [payload] = await payloads_once_blocked(
            database_url, [mutation(gql, who, ADD_TRANSCRIPT, add)], deletion.commit()
        )
        saved = await holder.fetchval("SELECT count(*) FROM transcripts WHERE tenant_id = $1", who.tenant_id)
    assert payload["errors"] == [{"field": "input.dealId", "message": "deal not found", "code": "NOT_FOUND"}]
    assert saved == 0


async def twins_racing(
    gql: GraphQLClient,
    who: TenantHandle,
    database_url: str,
    lock_sql: str,
    key: uuid.UUID,
    variables: dict[str, Any],
    document: str = CREATE_VERSION,
) -> list[dict[str, Any]]:
    """Two identical mutations (createPromptVersion unless told), both let go at once when `lock_sql` (on `key`)
    commits."""
    async with connected(database_url) as holder:
        lock = holder.transaction()
        await lock.start()
        await holder.execute(lock_sql, key)
        return await payloads_once_blocked(
            database_url, [mutation(gql, who, document, variables) for _ in range(2)], lock.commit()
        )


async def first_override(gql: GraphQLClient, who: TenantHandle, agent: str) -> tuple[dict[str, Any], uuid.UUID]:
    """The tenant's first version of `agent` (so in a template of its own) and that template's id."""
    created = await mutation(gql, who, CREATE_VERSION, {"input": {"agent": agent, **VERSION}})
    assert created["errors"] == []
    return created["promptVersion"], node_uuid(created["promptVersion"]["template"]["id"], "PromptTemplate")


async def count_versions(database_url: str, tenant_id: uuid.UUID, agent: str) -> tuple[int, int]:
    """(templates, versions) of the tenant's own template of `agent`."""
    async with connected(database_url) as connection:
        row = await connection.fetchrow(
            "SELECT count(DISTINCT t.id), count(v.id) FROM prompt_templates t "
            "LEFT JOIN prompt_versions v ON v.template_id = t.id WHERE t.tenant_id = $1 AND t.agent = $2",
            tenant_id,
            agent,
        )
    return row[0], row[1]


async def test_first_override_versions_racing_add_one_template(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """Neither request finds the tenant's ACTION_ITEMS template, so both add it: the second gives way to the first,
    and then finds its version to be a twin of the first's."""
    who = await tenants.create()
    variables = {"input": {"agent": "ACTION_ITEMS", **VERSION}}
    # the tenant row, which the template's foreign key check locks: held, the first insert waits there
    payloads = await twins_racing(
        gql, who, database_url, "SELECT 1 FROM tenants WHERE id = $1 FOR UPDATE", who.tenant_id, variables
    )
    assert codes(payloads) == [[], ["CONFLICT"]]
    assert sorted(payload["promptVersion"]["version"] for payload in payloads if payload["promptVersion"]) == [1]
    assert await count_versions(database_url, who.tenant_id, "action_items") == (1, 1)


async def test_identical_versions_racing_save_one(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """Both requests look for a twin version before either saves: one version is saved, the other conflicts."""
    who = await tenants.create()
    _, template_id = await first_override(gql, who, "STAKEHOLDERS")
    assert await count_versions(database_url, who.tenant_id, "stakeholders") == (1, 1)
    again = {"input": {"agent": "STAKEHOLDERS", **VERSION, "userTemplate": "Be brief. Call `{{ agent }}`."}}
    payloads = await twins_racing(gql, who, database_url, LOCK_TEMPLATE, template_id, again)
    assert codes(payloads) == [[], ["CONFLICT"]]
    assert await count_versions(database_url, who.tenant_id, "stakeholders") == (1, 2)


async def test_new_label_set_by_racing_requests_is_added_once(
    gql: GraphQLClient, tenants: TenantFactory, database_url: str
) -> None:
    """Neither request finds the label, so both add it: the second moves the first's instead."""
    who = await tenants.create()
    created, template_id = await first_override(gql, who, "MEDDPICC")
    variables = {"t": created["template"]["id"], "label": "canary", "v": created["id"]}
    # the template row, which the label's foreign key check locks: held, the first insert waits there
    payloads = await twins_racing(gql, who, database_url, LOCK_TEMPLATE, template_id, variables, SET_LABEL)
    async with connected(database_url) as connection:
        labels = await connection.fetchval("SELECT count(*) FROM prompt_labels WHERE template_id = $1", template_id)
    assert [payload["errors"] for payload in payloads] == [[], []]
    assert [payload["label"]["version"]["version"] for payload in payloads] == [1, 1]
    assert labels == 1
