"""Admin-only fields carry the permission class, so the rule cannot be forgotten in a resolver."""

from __future__ import annotations

import uuid

from strawberry import relay
from strawberry.types.base import get_object_definition

from dealgraph.db.models import Role
from dealgraph.schema import Mutation, Query
from dealgraph.schema.permissions import IsAdmin
from tests.analysis_support import START, transcript_for_analysis
from tests.support import GraphQLClient, TenantFactory


def _admin_only_fields() -> dict[str, bool]:
    """Every prompt-changing mutation and every field documented "Admins: …" → has IsAdmin."""
    found = {}
    for root in (Query, Mutation):
        definition = get_object_definition(root, strict=True)
        for field in definition.fields:
            changes_prompts = root is Mutation and "prompt" in field.name.lower()
            documented_admin_only = (field.description or "").startswith("Admins:")
            if changes_prompts or documented_admin_only:
                found[f"{definition.name}.{field.name}"] = IsAdmin in field.permission_classes
    return found


def test_every_prompt_changing_mutation_and_admin_field_requires_the_admin_role() -> None:
    found = _admin_only_fields()
    assert {
        "Mutation.create_prompt_version",
        "Mutation.set_prompt_label",
        "Mutation.rollback_prompt",
        "Query.render_prompt",
    } <= set(found)
    assert [name for name, guarded in found.items() if not guarded] == []


async def test_only_admins_run_unpublished_prompt_labels(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    transcript = (await transcript_for_analysis(gql, admin))["transcript"]

    refused = (await gql.raw(START, {"t": transcript, "promptLabel": "staging"}, as_=member)).json()
    assert refused["data"] is None
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert refused["errors"][0]["message"] == "Only admins may run a prompt label other than 'production'."

    member_run = (await gql(START, {"t": transcript, "key": "member"}, as_=member))["startAnalysis"]
    assert member_run["errors"] == [] and member_run["analysis"]["status"] == "QUEUED"
    admin_run = (await gql(START, {"t": transcript, "promptLabel": "staging", "key": "admin"}, as_=admin))[
        "startAnalysis"
    ]
    assert admin_run["errors"] == [] and admin_run["analysis"]["status"] == "QUEUED"


async def test_forbidden_keeps_its_message_shape(gql: GraphQLClient, tenants: TenantFactory) -> None:
    member = await tenants.add_user(await tenants.create(), Role.MEMBER)
    template = str(relay.GlobalID("PromptTemplate", str(uuid.uuid4())))
    rollback = 'mutation($t: ID!) { rollbackPrompt(templateId: $t, label: "production") { label { name } } }'
    body = (await gql.raw(rollback, {"t": template}, as_=member)).json()
    assert body["errors"][0]["message"] == "This operation requires the admin role."
    assert body["errors"][0]["extensions"] == {"code": "FORBIDDEN"}
