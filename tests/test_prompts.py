"""Prompt templates through the API: versions, validation, labels, rollback, overrides, isolation,
admin-only changes, pinning of analyses, previews, diffs, and result reuse."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette

from dealgraph.bootstrap import prepare_database
from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.db.session import Database
from harness.postgres import MigratedTemplates, connected
from tests.analysis_support import ANALYSIS, start, transcript_for_analysis, wait_until_finished
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle

TEMPLATES = """
query($agent: AgentKind) {
  promptTemplates(agent: $agent) { edges { node { id agent isBuiltin name
    labels { name version { id version } }
    versions { totalCount edges { node { id version model } } } } } }
}"""
CREATE = """
mutation($input: PromptVersionInput!) {
  createPromptVersion(input: $input) {
    promptVersion { id version model note author { email } template { id isBuiltin agent } }
    errors { field message code }
  }
}"""
SET_LABEL = """
mutation($t: ID!, $label: String!, $v: ID!) {
  setPromptLabel(templateId: $t, label: $label, versionId: $v) { label { name version { version } } errors { field code message } }
}"""
ROLLBACK = """
mutation($t: ID!, $label: String!) {
  rollbackPrompt(templateId: $t, label: $label) { label { name version { version } } errors { field code message } }
}"""
TEMPLATE = """
query($id: ID!, $from: ID!, $to: ID!) {
  promptTemplate(id: $id) {
    labels { name version { version } updatedBy { email } }
    audit { edges { node { action label fromVersion { version } toVersion { version } actor { email } } } }
    diff(fromVersionId: $from, toVersionId: $to)
  }
}"""
RENDER = """
query($v: ID!, $t: ID!) { renderPrompt(versionId: $v, transcriptId: $t) { model system user transcriptBlock inputTokens simulated } }"""

SYSTEM = "You analyse sales calls for {{ account.name }}."
USER = "Deal {{ deal.name }} ({{ deal.stage }}), call of {{ meeting.date }} with {{ participants | join(', ') }}.\nCall the `{{ agent }}` tool."


def version_input(**overrides: Any) -> dict[str, Any]:
    return {"agent": "MEDDPICC", "systemText": SYSTEM, "userTemplate": USER, **overrides}


async def create_version(gql: GraphQLClient, who: TenantHandle, **overrides: Any) -> dict[str, Any]:
    payload = (await gql(CREATE, {"input": version_input(**overrides)}, as_=who))["createPromptVersion"]
    assert payload["errors"] == [], payload
    return payload["promptVersion"]


async def meddpicc_templates(gql: GraphQLClient, who: TenantHandle) -> list[dict[str, Any]]:
    return [e["node"] for e in (await gql(TEMPLATES, {"agent": "MEDDPICC"}, as_=who))["promptTemplates"]["edges"]]


async def test_builtin_templates_are_loaded_once_with_both_labels(
    gql: GraphQLClient, tenants: TenantFactory, app: Starlette, settings: Settings
) -> None:
    who = await tenants.create()
    data = (await gql(TEMPLATES, as_=who))["promptTemplates"]["edges"]
    assert sorted(e["node"]["agent"] for e in data) == [
        "ACTION_ITEMS",
        "MEDDPICC",
        "MEETING_INTELLIGENCE",
        "STAKEHOLDERS",
    ]
    for edge in data:
        node = edge["node"]
        assert node["isBuiltin"] and node["versions"]["totalCount"] == 1
        assert {label["name"]: label["version"]["version"] for label in node["labels"]} == {
            "production": 1,
            "staging": 1,
        }
    await prepare_database(app.state.database, settings, apply_migrations=False)  # a restart
    again = (await gql(TEMPLATES, as_=who))["promptTemplates"]["edges"]
    assert all(e["node"]["versions"]["totalCount"] == 1 for e in again)


async def test_create_version_validates_everything_and_saves_nothing_on_error(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    bad = version_input(
        systemText="  ", userTemplate="{{ deal.nmae }} {{ secret }} {% if %}", model="gpt-4", maxTokens=10
    )
    payload = (await gql(CREATE, {"input": bad}, as_=who))["createPromptVersion"]
    assert payload["promptVersion"] is None
    errors = {e["field"]: e["message"] for e in payload["errors"]}
    assert set(errors) == {"systemText", "userTemplate", "model", "maxTokens"}
    assert errors["model"].startswith("unknown or not allowed model 'gpt-4'; use one of: claude-sonnet-5-5")
    legacy = (await gql(CREATE, {"input": version_input(temperature=0.2)}, as_=who))["createPromptVersion"]
    assert legacy["errors"] == [
        {
            "field": "temperature",
            "code": "INVALID",
            "message": "is no longer supported: current models refuse sampling parameters; set effort instead",
        }
    ]
    unknown = (await gql(CREATE, {"input": version_input(userTemplate="{{ secret }}")}, as_=who))["createPromptVersion"]
    assert "unknown variables: secret" in unknown["errors"][0]["message"]
    syntax = (await gql(CREATE, {"input": version_input(userTemplate="a\nb\n{% if %}")}, as_=who))[
        "createPromptVersion"
    ]
    assert "line 3" in syntax["errors"][0]["message"]
    attribute = (await gql(CREATE, {"input": version_input(userTemplate="{{ deal.nmae }}")}, as_=who))[
        "createPromptVersion"
    ]
    assert "'deal' has no attribute 'nmae'" in attribute["errors"][0]["message"]
    escape = (await gql(CREATE, {"input": version_input(userTemplate="{{ deal.__class__ }}")}, as_=who))[
        "createPromptVersion"
    ]
    assert "unsafe" in escape["errors"][0]["message"]
    templates = await meddpicc_templates(gql, who)
    assert [t["isBuiltin"] for t in templates] == [True]  # nothing saved, not even an empty override


async def test_versions_labels_rollback_audit_and_diff(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    v1 = await create_version(gql, who, note="first", labels=["production"])
    assert v1["version"] == 1 and v1["template"]["isBuiltin"] is False and v1["author"]["email"].startswith("admin@")
    template_id = v1["template"]["id"]
    v2 = await create_version(gql, who, templateId=template_id, agent=None, userTemplate=USER + "\nBe brief.")
    v3 = await create_version(gql, who, agent="MEDDPICC", userTemplate=USER + "\nBe thorough.", model="claude-opus-5-5")
    assert (v2["version"], v3["version"]) == (2, 3) and v3["template"]["id"] == template_id
    twin = (await gql(CREATE, {"input": version_input()}, as_=who))["createPromptVersion"]
    assert twin["errors"] == [
        {"field": "userTemplate", "message": "identical to version 1; nothing to save", "code": "CONFLICT"}
    ]

    for version in (v2, v3):
        moved = await gql(SET_LABEL, {"t": template_id, "label": "production", "v": version["id"]}, as_=who)
        assert moved["setPromptLabel"]["errors"] == []
    back = (await gql(ROLLBACK, {"t": template_id, "label": "production"}, as_=who))["rollbackPrompt"]
    assert back["label"]["version"]["version"] == 2
    back = (await gql(ROLLBACK, {"t": template_id, "label": "production"}, as_=who))["rollbackPrompt"]
    assert back["label"]["version"]["version"] == 1  # walks back through history, does not toggle
    nothing = (await gql(ROLLBACK, {"t": template_id, "label": "production"}, as_=who))["rollbackPrompt"]
    assert nothing["errors"][0]["code"] == "CONFLICT"
    missing = (await gql(ROLLBACK, {"t": template_id, "label": "staging"}, as_=who))["rollbackPrompt"]
    assert missing["errors"][0]["code"] == "NOT_FOUND"
    bad_label = await gql(SET_LABEL, {"t": template_id, "label": "Prod!", "v": v1["id"]}, as_=who)
    assert bad_label["setPromptLabel"]["errors"][0]["field"] == "label"

    data = (await gql(TEMPLATE, {"id": template_id, "from": v1["id"], "to": v3["id"]}, as_=who))["promptTemplate"]
    assert data["labels"][0]["version"]["version"] == 1 and data["labels"][0]["updatedBy"]["email"].startswith("admin@")
    audit = [
        (
            e["node"]["action"],
            e["node"]["label"],
            (e["node"]["fromVersion"] or {}).get("version"),
            (e["node"]["toVersion"] or {}).get("version"),
        )
        for e in data["audit"]["edges"]
    ]
    assert audit == [
        ("rollback", "production", 2, 1),
        ("rollback", "production", 3, 2),
        ("label_set", "production", 2, 3),
        ("label_set", "production", 1, 2),
        ("version_created", None, None, 3),
        ("version_created", None, None, 2),
        ("label_set", "production", None, 1),
        ("version_created", None, None, 1),
    ]
    assert all(e["node"]["actor"]["email"].startswith("admin@") for e in data["audit"]["edges"])
    diff = data["diff"]
    assert diff.startswith("--- meddpicc v1\n+++ meddpicc v3\n")
    assert "-model: claude-sonnet-5-5" in diff and "+model: claude-opus-5-5" in diff and "+Be thorough." in diff


async def test_builtin_templates_are_read_only(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    [builtin] = await meddpicc_templates(gql, who)
    edit = (await gql(CREATE, {"input": version_input(agent=None, templateId=builtin["id"])}, as_=who))[
        "createPromptVersion"
    ]
    assert edit["errors"][0]["code"] == "CONFLICT" and "read-only" in edit["errors"][0]["message"]
    label = builtin["labels"][0]["version"]["id"]
    moved = await gql(SET_LABEL, {"t": builtin["id"], "label": "production", "v": label}, as_=who)
    assert moved["setPromptLabel"]["errors"][0]["code"] == "CONFLICT"


async def test_members_cannot_change_prompts(gql: GraphQLClient, tenants: TenantFactory) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    version = await create_version(gql, admin)
    ids = await transcript_for_analysis(gql, admin)
    attempts = [
        (CREATE, {"input": version_input()}),
        (SET_LABEL, {"t": version["template"]["id"], "label": "production", "v": version["id"]}),
        (ROLLBACK, {"t": version["template"]["id"], "label": "production"}),
        (RENDER, {"v": version["id"], "t": ids["transcript"]}),
    ]
    for document, variables in attempts:
        body = (await gql.raw(document, variables, as_=member)).json()
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN", document
    assert len(await meddpicc_templates(gql, member)) == 2  # reading is fine


async def test_tenants_never_see_each_others_templates(gql: GraphQLClient, tenants: TenantFactory) -> None:
    owner, stranger = await tenants.create(), await tenants.create()
    version = await create_version(gql, owner)
    template_id = version["template"]["id"]
    assert [t["isBuiltin"] for t in await meddpicc_templates(gql, stranger)] == [True]
    hidden = await gql("query($id: ID!) { node(id: $id) { id } }", {"id": version["id"]}, as_=stranger)
    assert hidden["node"] is None
    moved = await gql(SET_LABEL, {"t": template_id, "label": "production", "v": version["id"]}, as_=stranger)
    assert moved["setPromptLabel"]["errors"][0]["code"] == "NOT_FOUND"
    ids = await transcript_for_analysis(gql, stranger)
    body = (await gql.raw(RENDER, {"v": version["id"], "t": ids["transcript"]}, as_=stranger)).json()
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_render_prompt_previews_exactly_what_is_sent(gql: GraphQLClient, tenants: TenantFactory) -> None:
    who = await tenants.create()
    version = await create_version(gql, who)
    ids = await transcript_for_analysis(gql, who)
    rendered = (await gql(RENDER, {"v": version["id"], "t": ids["transcript"]}, as_=who))["renderPrompt"]
    assert rendered["system"] == "You analyse sales calls for Northwind."
    assert rendered["user"].startswith("Deal Northwind platform (prospecting), call of ")
    assert "with Alice Chen, Bob Martinez, Carol Singh." in rendered["user"] and rendered["user"].endswith(
        "`meddpicc` tool."
    )
    assert "[1 00:15] Bob Martinez: Sure. We have to cut onboarding time" in rendered["transcriptBlock"]
    assert rendered["inputTokens"] > 100 and rendered["simulated"] is True and rendered["model"] == "claude-sonnet-5-5"


async def _run_version(gql: GraphQLClient, who: TenantHandle, transcript_id: str, **variables: Any) -> dict[str, Any]:
    analysis = await start(gql, who, transcript_id, agents=["MEDDPICC"], **variables)
    finished = await wait_until_finished(gql, who, analysis["id"])
    [run] = finished["agentRuns"]
    assert run["status"] == "SUCCEEDED", run
    return run


async def test_override_staging_pinning_and_default_for_others(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who, other = await tenants.create(), await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    builtin_run = await _run_version(gql, who, ids["transcript"])
    assert builtin_run["promptVersion"]["template"]["isBuiltin"] is True

    v1 = await create_version(gql, who, labels=["production"])
    staged = await create_version(gql, who, userTemplate=USER + "\nStaged.", labels=["staging"])
    override = await _run_version(gql, who, ids["transcript"])
    assert override["promptVersion"]["id"] == v1["id"] and override["metadata"]["promptVersion"] == 1
    trial = await _run_version(gql, who, ids["transcript"], promptLabel="staging")
    assert trial["promptVersion"]["id"] == staged["id"]
    no_label = await gql(
        'mutation($t: ID!) { startAnalysis(transcriptId: $t, promptLabel: "canary") { errors { field code message } } }',
        {"t": ids["transcript"]},
        as_=who,
    )
    assert no_label["startAnalysis"]["errors"][0]["field"] == "promptLabel"
    not_a_label = await gql(
        "mutation($t: ID!, $l: String!) { startAnalysis(transcriptId: $t, promptLabel: $l) { errors { field code message } } }",
        {"t": ids["transcript"], "l": "x" * 300_000},
        as_=who,
    )
    [error] = not_a_label["startAnalysis"]["errors"]
    assert (error["field"], error["code"]) == ("promptLabel", "INVALID") and len(error["message"]) < 200

    other_ids = await transcript_for_analysis(gql, other)  # the override is this tenant's only
    assert (await _run_version(gql, other, other_ids["transcript"]))["promptVersion"]["template"]["isBuiltin"] is True

    await standin.behave("meddpicc", latency_s=1.0)  # an analysis in flight keeps the version it started with
    pinned = await start(gql, who, ids["transcript"], agents=["MEDDPICC"], force=True)
    await gql(SET_LABEL, {"t": v1["template"]["id"], "label": "production", "v": staged["id"]}, as_=who)
    [run] = (await wait_until_finished(gql, who, pinned["id"]))["agentRuns"]
    assert run["promptVersion"]["id"] == v1["id"] and run["metadata"]["promptVersionId"] == v1["id"]


async def test_identical_results_are_reused_unless_forced(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    who = await tenants.create()
    ids = await transcript_for_analysis(gql, who)
    first = await _run_version(gql, who, ids["transcript"])
    assert first["metadata"]["reusedFromRunId"] is None

    await standin.behave("meddpicc", latency_s=2.0)  # reuse must not wait for the model at all
    calls_before = len(await standin.statuses("meddpicc"))
    reused_analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
    stored = (await gql(ANALYSIS, {"id": reused_analysis["id"]}, as_=who))["analysis"]
    assert stored["status"] == "SUCCEEDED" and stored["finishedAt"] is not None  # finished in the mutation itself
    assert stored["startedAt"] == stored["finishedAt"]
    [run] = stored["agentRuns"]
    assert run["metadata"]["reusedFromRunId"] is not None
    assert run["metadata"]["outputTokens"] == 0 and run["metadata"]["attempts"] == 0
    assert run["result"]["__typename"] == "MeddpiccResult"
    assert len(await standin.statuses("meddpicc")) == calls_before  # the model was not called

    await standin.behave("meddpicc", latency_s=0.05)
    forced = await _run_version(gql, who, ids["transcript"], force=True)
    assert forced["metadata"]["reusedFromRunId"] is None and forced["metadata"]["outputTokens"] > 0
    await create_version(gql, who, labels=["production"])  # a new prompt version: nothing to reuse
    fresh = await _run_version(gql, who, ids["transcript"])
    assert fresh["metadata"]["reusedFromRunId"] is None

    stranger = await tenants.create()  # identical transcript content in another tenant: never shared
    theirs = await transcript_for_analysis(gql, stranger)
    assert (await _run_version(gql, stranger, theirs["transcript"]))["metadata"]["reusedFromRunId"] is None


async def assert_versions_refused(
    gql: GraphQLClient, who: TenantHandle, refused: list[tuple[dict[str, Any], str, str]]
) -> None:
    """Each input (over a STAKEHOLDERS version) gets one INVALID error on `field` saying `problem`; none is saved."""
    for fields, field, problem in refused:
        payload = (await gql(CREATE, {"input": version_input(agent="STAKEHOLDERS", **fields)}, as_=who))[
            "createPromptVersion"
        ]
        assert payload["promptVersion"] is None
        [error] = payload["errors"]
        assert (error["field"], error["code"]) == (field, "INVALID") and problem in error["message"], error
    templates = (await gql(TEMPLATES, {"agent": "STAKEHOLDERS"}, as_=who))["promptTemplates"]["edges"]
    assert [t["node"]["isBuiltin"] for t in templates] == [True]  # nothing saved


async def test_create_version_refuses_templates_too_deep_or_too_large_and_saves_nothing(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """Each used to reach Jinja's parser or compiler unguarded: a RecursionError or ValueError, an internal error."""
    templates = {
        "{{ " + "(" * 67 + "1" + ")" * 67 + " }}": "is nested too deeply",
        "{% if true %}" * 235 + "x" + "{% endif %}" * 235: "is nested too deeply",
        "{{ " + "[" * 1000 + "]" * 1000 + " }}": "is nested too deeply",
        "{{ " + "+".join(["1"] * 5000) + " }}": "is nested too deeply",
        "{{ 'a'" + "|upper" * 3000 + " }}": "is nested too deeply",
        "{{ 10 ** 100000 }}": "'**' would give a number of more than 4300 digits",
        "{{ '%c' % 55296 }}": "renders an unpaired UTF-16 surrogate",
    }
    refused = [({"systemText": "s", "userTemplate": t}, "userTemplate", problem) for t, problem in templates.items()]
    await assert_versions_refused(gql, await tenants.create(), refused)


async def test_create_version_refuses_empty_model_zero_tokens_and_too_many_labels(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """`""` and 0 used to mean "the default" (a falsy `or`); a thousand labels took 2 s to set."""
    refused = [
        ({"model": ""}, "model", "model"),
        ({"maxTokens": 0}, "maxTokens", "must be between 256"),
        ({"labels": [f"l{i}" for i in range(11)]}, "labels", "at most 10 labels"),
        ({"labels": ["production\n"]}, "labels", "lowercase letters"),
    ]
    await assert_versions_refused(gql, await tenants.create(), refused)


async def test_a_version_rendering_a_lone_surrogate_for_a_call_fails_its_preview_and_runs(
    gql: GraphQLClient, tenants: TenantFactory
) -> None:
    """The sample call has 4 utterances, this one 8: the version saves, then cannot be sent for this call."""
    who = await tenants.create()
    version = await create_version(
        gql,
        who,
        userTemplate=USER + "{% if meeting.utterance_count > 4 %}{{ '%c' % 55296 }}{% endif %}",
        labels=["production"],
    )
    ids = await transcript_for_analysis(gql, who)
    body = (await gql.raw(RENDER, {"v": version["id"], "t": ids["transcript"]}, as_=who)).json()
    assert body["data"] is None
    [error] = body["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert error["message"].startswith("userTemplate: renders an unpaired UTF-16 surrogate")

    analysis = await start(gql, who, ids["transcript"], agents=["MEDDPICC"])
    [run] = (await wait_until_finished(gql, who, analysis["id"]))["agentRuns"]
    assert run["status"] == "FAILED" and run["promptVersion"]["id"] == version["id"]
    assert run["error"]["code"] == "PROMPT_RENDER_FAILED" and "unpaired UTF-16 surrogate" in run["error"]["message"]


async def test_a_start_seeds_the_built_ins_only_when_what_they_are_made_of_changed(
    server_url: str, migrated_templates: MigratedTemplates
) -> None:
    """Each start compares the built-in templates' recorded source hashes, computed without the Claude SDK, and
    computes their output schemas (which needs the SDK) only for one that changed."""
    async with migrated_templates.clone(server_url) as scratch:
        database = Database(scratch.url, app_role="dealgraph_app")
        try:

            async def start(max_tokens: int) -> list[tuple[int, str | None]]:
                """A start's seeding, then MEDDPICC's built-in versions with the one labelled production."""
                settings = Settings(database_url=scratch.url, llm_max_tokens=max_tokens)
                await prepare_database(database, settings, apply_migrations=False)
                async with connected(scratch.url) as connection:
                    rows = await connection.fetch(
                        "SELECT v.version, l.name AS label FROM prompt_versions v JOIN prompt_templates t "
                        "ON t.id = v.template_id AND t.tenant_id IS NULL AND t.agent = 'meddpicc' "
                        "LEFT JOIN prompt_labels l ON l.version_id = v.id AND l.name = 'production' ORDER BY 1"
                    )
                return [(row["version"], row["label"]) for row in rows]

            assert await start(16000) == [(1, "production")]
            assert await start(16000) == [(1, "production")]
            assert await start(12000) == [(1, None), (2, "production")]  # a changed default: a new version
            async with connected(scratch.url) as connection:  # as seeded before sources were recorded
                await connection.execute("UPDATE prompt_templates SET builtin_source = NULL")
            assert await start(12000) == [(1, None), (2, "production")]  # found by its content, not added again
            async with connected(scratch.url) as connection:
                recorded = await connection.fetchval("SELECT count(builtin_source) FROM prompt_templates")
            assert recorded == 5
        finally:
            await database.dispose()
