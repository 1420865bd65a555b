"""The pairwise judge of prompt experiments against the stand-in: off by default, a verdict per call and agent
when on (the answers shown in alternating order, its quotes verified), counted in the summary and priced in the
estimate at the LIVE price (experimentEstimate showing the very estimate the start checks), its version picked
by label or id (its production label by default), skipped where an answer failed, canceled with its experiment,
resumed after a restart without sending an answer or a stored verdict again; and its prompt, a template admins
edit like the agents' that is neither listed as an agent's nor visible to members."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from starlette.applications import Starlette

from dealgraph.agents.judge import PAIRWISE_JUDGE
from dealgraph.db.models import ExperimentRequest, Role
from dealgraph.runs import experiment_judge
from dealgraph.services.experiment_scores import Judgment, PairwiseWinner
from tests.analysis_support import transcript_for_analysis
from tests.experiment_support import (
    analysed_call,
    batches_sent,
    candidate_version,
    dataset_of,
    ended,
    experiment_setup,
    start,
    states,
)
from tests.support import GraphQLClient, StandinControl, TenantFactory, TenantHandle, wait_for

pytestmark = pytest.mark.usefixtures("standin")

JUDGED = """
query($id: ID!) { experiment(id: $id) {
  status pairwise estimatedCostUsd requestStates { state count }
  pairwiseJudgeVersion { id version template { isBuiltin } }
  summary { pairwise { candidateWins baselineWins ties unjudged inputTokens outputTokens costUsd } }
  calls { transcript { id } baseline { result } candidate { result }
    judgment { state errorCode errorMessage winner reason confidence shownFirst costUsd
      evidence { quote verified } } }
} }"""
JUDGE_TEMPLATES = """
{ pairwiseJudgeTemplates { edges { node { id kind agent isBuiltin
  labels { name version { id version } } versions { edges { node { id outputSchema } } } } } } }"""
AGENT_TEMPLATES = "{ promptTemplates { edges { node { kind agent } } } }"
TEMPLATE = "query($id: ID!) { promptTemplate(id: $id) { id kind } }"
NODE = "query($id: ID!) { node(id: $id) { id } }"
CREATE = """
mutation($input: PromptVersionInput!) {
  createPromptVersion(input: $input) {
    promptVersion { id version template { id kind agent isBuiltin } } errors { field message code }
  }
}"""
ROLLBACK = """
mutation($t: ID!) { rollbackPrompt(templateId: $t, label: "production") { label { version { id version } } errors { message } } }"""
CANCEL = "mutation($id: ID!) { cancelExperiment(id: $id) { errors { field code message } } }"
RENDER = "query($v: ID!, $t: ID!) { renderPrompt(versionId: $v, transcriptId: $t) { user } }"


async def judge_templates(gql: GraphQLClient, who: TenantHandle) -> list[dict[str, Any]]:
    return [edge["node"] for edge in (await gql(JUDGE_TEMPLATES, as_=who))["pairwiseJudgeTemplates"]["edges"]]


def judge_requests(bodies: list[Any]) -> list[dict[str, Any]]:
    return [body for body in bodies if body["output_config"]["format"]["schema"]["title"] == PAIRWISE_JUDGE]


def shown_answers(body: dict[str, Any]) -> tuple[Any, Any]:
    """The answers a judge request showed, as A and B."""
    user = body["messages"][0]["content"]
    first, second = (json.loads(re.search(f'<answer id="{name}">\n(.*)\n</answer>', user)[1]) for name in "AB")  # type: ignore[index]
    return first, second


async def test_pairwise_is_off_by_default_and_no_judge_request_is_sent(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    started = await start(gql, admin, dataset, version, mode="LIVE")
    assert started["errors"] == [] and started["experiment"]["pairwise"] is False
    done = await ended(gql, admin, started["experiment"]["id"], query=JUDGED)
    assert done["status"] == "SUCCEEDED" and states(done) == {"SUCCEEDED": 2}
    assert done["pairwiseJudgeVersion"] is None and done["summary"]["pairwise"] is None
    assert [call["judgment"] for call in done["calls"]] == [None]
    assert len(await standin.statuses("meddpicc")) == 2  # the answers went out, nothing else did
    assert await standin.statuses(PAIRWISE_JUDGE) == [] and await standin.token_counts(PAIRWISE_JUDGE) == 0


async def test_the_judge_compares_each_call_in_alternating_order_and_the_summary_counts_its_verdicts(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    calls = [await analysed_call(gql, admin), (await transcript_for_analysis(gql, admin))["transcript"]]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, *calls)
    started = await start(gql, admin, dataset, version["id"], mode="LIVE", pairwise=True)
    assert started["errors"] == [] and started["experiment"]["pairwise"] is True
    done = await ended(gql, admin, started["experiment"]["id"], query=JUDGED)
    assert done["status"] == "SUCCEEDED"
    assert states(done) == {"STORED": 1, "SUCCEEDED": 5}  # three answers sent, one stored, two verdicts
    assert done["pairwiseJudgeVersion"]["version"] == 1 and done["pairwiseJudgeVersion"]["template"]["isBuiltin"]
    judgments = [call["judgment"] for call in done["calls"]]
    assert {judgment["shownFirst"] for judgment in judgments} == {"BASELINE", "CANDIDATE"}
    for judgment in judgments:
        assert judgment["state"] == "SUCCEEDED" and judgment["errorCode"] is None
        assert judgment["winner"] in ("BASELINE", "CANDIDATE", "TIE") and judgment["reason"]
        assert 0 <= judgment["confidence"] <= 1 and judgment["costUsd"] > 0
        assert judgment["evidence"] and any(quote["verified"] for quote in judgment["evidence"])
    pairwise = done["summary"]["pairwise"]
    assert pairwise["candidateWins"] + pairwise["baselineWins"] + pairwise["ties"] == 2 and pairwise["unjudged"] == 0
    for side in ("BASELINE", "CANDIDATE"):
        won = sum(judgment["winner"] == side for judgment in judgments)
        assert pairwise[f"{side.lower()}Wins"] == won
    assert pairwise["costUsd"] == pytest.approx(sum(judgment["costUsd"] for judgment in judgments), abs=1e-5)
    assert pairwise["inputTokens"] > 0 and pairwise["outputTokens"] > 0
    assert await standin.statuses(PAIRWISE_JUDGE) == [200, 200]
    answers = [(call["baseline"]["result"], call["candidate"]["result"]) for call in done["calls"]]
    sent = [shown_answers(body) for body in judge_requests(await standin.requests())]
    assert len(sent) == 2 and all(shown in answers or shown[::-1] in answers for shown in sent)


def test_each_judge_request_shows_the_answers_in_its_recorded_order() -> None:
    call = uuid.uuid4()

    def row(side: str, custom_id: str, result: dict[str, Any] | None, **values: Any) -> ExperimentRequest:
        found = ExperimentRequest(transcript_id=call, agent="meddpicc", side=side, custom_id=custom_id, **values)
        found.result = result
        return found

    answers = [row("baseline", "b", {"said": "baseline"}), row("candidate", "c", {"said": "candidate"})]
    judges = [
        row("judge", f"judge-{first}", None, state="pending", shown_first=first, prompt_version_id=uuid.uuid4())
        for first in ("candidate", "baseline")
    ]
    sendable, skipped = experiment_judge.judge_requests([*answers, *judges])
    assert skipped == {}
    shown = {item.custom_id: tuple(json.loads(text)["said"] for text in item.shown or ()) for item in sendable}
    assert shown == {"judge-candidate": ("candidate", "baseline"), "judge-baseline": ("baseline", "candidate")}
    failed = row("candidate", "c", None, state="failed", error_code="REFUSED")
    sendable, skipped = experiment_judge.judge_requests([answers[0], failed, judges[0]])
    assert sendable == [] and skipped == {
        "judge-candidate": {
            "state": "skipped",
            "error_message": "nothing to compare: the candidate's answer failed (REFUSED)",
        }
    }


QUOTE = {"quote": "We lose about ten hours a week.", "utterance_index": 1}


def test_a_verdict_is_read_back_as_the_side_shown_in_its_place() -> None:
    def judged(shown_first: str, winner: str | None) -> PairwiseWinner | None:
        result = None if winner is None else {"winner": winner, "reason": "r", "confidence": 0.5, "evidence": [QUOTE]}
        row = ExperimentRequest(transcript_id=uuid.uuid4(), agent="meddpicc", side="judge", shown_first=shown_first)
        row.result = result
        found = Judgment.of(row)
        assert found is not None
        return found.winner

    assert judged("baseline", "A") is PairwiseWinner.BASELINE
    assert judged("baseline", "B") is PairwiseWinner.CANDIDATE
    assert judged("candidate", "A") is PairwiseWinner.CANDIDATE
    assert judged("candidate", "B") is PairwiseWinner.BASELINE
    assert judged("candidate", "TIE") is PairwiseWinner.TIE
    assert judged("baseline", None) is None


async def test_the_estimate_prices_the_judges_requests_at_the_live_price(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    estimates: dict[tuple[str, bool], float] = {}
    for mode in ("BATCH", "LIVE"):
        for pairwise in (False, True):
            refused = await start(gql, admin, dataset, version, mode=mode, pairwise=pairwise, budgetUsd=0.0001)
            [error] = refused["errors"]
            assert refused["experiment"] is None and (error["field"], error["code"]) == ("input.budgetUsd", "INVALID")
            requests = "(3 requests, 1 of them the pairwise judge's, LIVE," if pairwise else "(2 requests,"
            assert requests in error["message"], error
            estimates[(mode, pairwise)] = float(re.search(r"the estimate is \$([0-9.]+)", error["message"])[1])  # type: ignore[index]
    judged_in_batch = estimates[("BATCH", True)] - estimates[("BATCH", False)]
    assert estimates[("BATCH", False)] < estimates[("LIVE", False)]  # the answers are at half the price in a batch
    assert judged_in_batch > 0 and judged_in_batch == pytest.approx(
        estimates[("LIVE", True)] - estimates[("LIVE", False)]
    )
    assert await standin.token_counts(PAIRWISE_JUDGE) == 2  # the judge's prompt was counted, nothing was sent
    assert await standin.statuses(PAIRWISE_JUDGE) == []


ESTIMATE = """
query($dataset: ID!, $label: String!, $baseline: PromptPickInput, $pairwise: Boolean!, $judge: PromptPickInput) {
  experimentEstimate(datasetId: $dataset, promptLabel: $label, agents: [MEDDPICC], baseline: $baseline,
      pairwise: $pairwise, judge: $judge) {
    requests inputTokens maxOutputTokens liveCostUsd batchCostUsd judgeRequests judgeCostUsd
  }
}"""
EXPERIMENTS = "{ experiments { id } }"
PRODUCTION = {"label": "production"}
QUOTED = re.compile(
    r"the estimate is \$([0-9.]+) \((\d+) requests.*, (\d+) input tokens, at most (\d+) output tokens, (BATCH|LIVE)\)"
)


def quoted_estimate(refused: dict[str, Any]) -> tuple[float, int, int, int]:
    """The cost, requests, input and output tokens a start refused over its budget quoted."""
    [error] = refused["errors"]
    assert refused["experiment"] is None and (error["field"], error["code"]) == ("input.budgetUsd", "INVALID")
    found = QUOTED.search(error["message"])
    assert found is not None, error
    return float(found[1]), int(found[2]), int(found[3]), int(found[4])


def estimator(gql: GraphQLClient, who: TenantHandle, dataset: str) -> Any:
    async def estimate(**variables: Any) -> Any:
        return await gql.raw(
            ESTIMATE, {"dataset": dataset, "label": "candidate", "pairwise": False, **variables}, as_=who
        )

    return estimate


async def test_the_estimate_with_a_baseline_is_the_one_start_checks_against_the_budget(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    calls = [await analysed_call(gql, admin), (await transcript_for_analysis(gql, admin))["transcript"]]
    version = await candidate_version(gql, admin, labels=["candidate"])
    dataset = await dataset_of(gql, admin, *calls)
    estimate = estimator(gql, admin, dataset)

    label_only = (await estimate()).json()["data"]["experimentEstimate"]
    assert (label_only["requests"], label_only["judgeRequests"], label_only["judgeCostUsd"]) == (2, 0, 0)
    for pairwise in (False, True):
        shown = (await estimate(baseline=PRODUCTION, pairwise=pairwise)).json()["data"]["experimentEstimate"]
        # the candidate on both calls, the baseline on the one no analysis answered, and the judge on both
        assert (shown["requests"], shown["judgeRequests"]) == ((5, 2) if pairwise else (3, 0))
        for mode, cost in (("BATCH", shown["batchCostUsd"]), ("LIVE", shown["liveCostUsd"])):
            refused = await start(gql, admin, dataset, version["id"], mode=mode, pairwise=pairwise, budgetUsd=1e-6)
            tokens = (shown["requests"], shown["inputTokens"], shown["maxOutputTokens"])
            assert quoted_estimate(refused) == (cost, *tokens), (mode, pairwise)
        assert (shown["judgeCostUsd"] > 0) is pairwise
        answers_batched, answers_live = (shown[f"{m}CostUsd"] - shown["judgeCostUsd"] for m in ("batch", "live"))
        assert answers_batched == pytest.approx(answers_live / 2, abs=2e-4)  # the judge's are LIVE in both
    assert (await gql(EXPERIMENTS, as_=admin))["experiments"] == []
    assert await standin.statuses(PAIRWISE_JUDGE) == [] and len(await standin.statuses("meddpicc")) == 1

    for variables, field in (
        ({"pairwise": True}, "baseline"),
        ({"baseline": PRODUCTION, "judge": PRODUCTION}, "judge"),
    ):
        [error] = (await estimate(**variables)).json()["errors"]
        assert error["extensions"]["code"] == "BAD_USER_INPUT" and error["message"].startswith(f"{field}: "), error
    unknown = (await estimate(baseline=PRODUCTION, pairwise=True, judge={"label": "nowhere"})).json()["errors"]
    assert [(e["extensions"]["code"], e["message"]) for e in unknown] == [
        ("NOT_FOUND", "judge: no 'nowhere' prompt for: the pairwise judge")
    ]


async def test_a_judge_picked_by_label_or_version_is_the_one_that_compares_and_is_recorded(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    call = (await transcript_for_analysis(gql, admin))["transcript"]
    version = await candidate_version(gql, admin, labels=["candidate"])
    dataset = await dataset_of(gql, admin, call)
    strict = {
        "pairwiseJudge": True,
        "labels": ["strict"],
        "systemText": "You review call analyses strictly.",
        "userTemplate": "Which {{ agent }} answer holds up?",
    }
    created = (await gql(CREATE, {"input": strict}, as_=admin))["createPromptVersion"]
    assert created["errors"] == []
    own = created["promptVersion"]["id"]
    _, builtin = await judge_templates(gql, admin)
    [shipped] = [label["version"]["id"] for label in builtin["labels"] if label["name"] == "production"]

    estimate = estimator(gql, admin, dataset)
    picked = await estimate(baseline=PRODUCTION, pairwise=True, judge={"label": "strict"})
    assert picked.json()["data"]["experimentEstimate"]["judgeRequests"] == 1
    [wrong] = (await estimate(baseline=PRODUCTION, pairwise=True, judge={"versionId": version["id"]})).json()["errors"]
    assert wrong["extensions"]["code"] == "BAD_USER_INPUT" and wrong["message"].startswith("judge.versionId: ")

    for judge, extra, refusal in (
        ({"versionId": version["id"]}, {"pairwise": True}, ("input.judge.versionId", "INVALID")),
        ({"label": "strict"}, {}, ("input.judge", "INVALID")),
        ({"label": "nowhere"}, {"pairwise": True}, ("input.judge", "NOT_FOUND")),
        ({"label": "strict", "versionId": own}, {"pairwise": True}, ("input.judge", "INVALID")),
    ):
        refused = await start(gql, admin, dataset, version["id"], judge=judge, **extra)
        assert refused["experiment"] is None and [(e["field"], e["code"]) for e in refused["errors"]] == [refusal]
        if judge.get("versionId") == version["id"]:
            assert "meddpicc agent's version is not the pairwise judge's" in refused["errors"][0]["message"]
    assert (await gql(EXPERIMENTS, as_=admin))["experiments"] == []  # nothing saved

    for judge, expected in (({"label": "strict"}, own), ({"versionId": shipped}, shipped)):
        started = await start(gql, admin, dataset, version["id"], mode="LIVE", pairwise=True, judge=judge)
        assert started["errors"] == [], started
        done = await ended(gql, admin, started["experiment"]["id"], query=JUDGED)
        assert done["status"] == "SUCCEEDED" and done["pairwiseJudgeVersion"]["id"] == expected
        assert [call["judgment"]["state"] for call in done["calls"]] == ["SUCCEEDED"]
    first, second = (
        [block["text"] for block in body["system"]][1] for body in judge_requests(await standin.requests())
    )
    assert first == strict["systemText"] and second != strict["systemText"]


async def test_a_call_whose_answer_failed_is_not_judged(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    call = await analysed_call(gql, admin)
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    await standin.behave("meddpicc", invalid_output_times=1)  # the candidate's answer, the only one sent
    started = await start(gql, admin, dataset, version["id"], mode="LIVE", pairwise=True)
    done = await ended(gql, admin, started["experiment"]["id"], query=JUDGED)
    assert done["status"] == "SUCCEEDED" and states(done) == {"STORED": 1, "FAILED": 1, "SKIPPED": 1}
    [judgment] = [call["judgment"] for call in done["calls"]]
    assert judgment["state"] == "SKIPPED" and judgment["winner"] is None and judgment["evidence"] == []
    assert "the candidate's answer failed (INVALID_OUTPUT)" in judgment["errorMessage"]
    assert done["summary"]["pairwise"]["unjudged"] == 1 and done["summary"]["pairwise"]["costUsd"] == 0
    assert await standin.statuses(PAIRWISE_JUDGE) == []


async def test_a_canceled_experiment_sends_no_judge_request(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    dataset, version = await experiment_setup(gql, admin)
    await standin.behave("meddpicc", held=True)
    experiment = (await start(gql, admin, dataset, version, mode="LIVE", pairwise=True))["experiment"]["id"]

    async def both_answers_asked() -> bool:
        return len(await standin.requests()) == 2

    await wait_for(both_answers_asked)
    assert (await gql(CANCEL, {"id": experiment}, as_=admin))["cancelExperiment"]["errors"] == []
    await standin.release("meddpicc")
    done = await ended(gql, admin, experiment, query=JUDGED)
    assert done["status"] == "CANCELED" and states(done) == {"SUCCEEDED": 2, "CANCELED": 1}
    [call_judged] = done["calls"]
    assert call_judged["judgment"]["state"] == "CANCELED" and done["summary"]["pairwise"]["unjudged"] == 1
    assert await standin.statuses(PAIRWISE_JUDGE) == []


async def test_a_pool_stopped_while_judging_sends_no_answer_and_no_stored_verdict_again(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl, app: Starlette
) -> None:
    admin = await tenants.create()
    calls = [(await transcript_for_analysis(gql, admin))["transcript"] for _ in range(2)]
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, *calls)
    await standin.behave(PAIRWISE_JUDGE, held=True, failures=[400])  # one verdict fails at once, one waits
    before = await batches_sent(app)
    experiment = (await start(gql, admin, dataset, version["id"], pairwise=True))["experiment"]["id"]

    async def judge_requests_sent(count: int) -> bool:
        return len(judge_requests(await standin.requests())) == count

    async def one_verdict_stored() -> bool:
        found = (await gql(JUDGED, {"id": experiment}, as_=admin))["experiment"]
        return states(found).get("FAILED") == 1

    await wait_for(lambda: judge_requests_sent(2))
    await wait_for(one_verdict_stored)
    pool = app.state.experiment_pool
    await pool.stop()  # the server stops while the second verdict is awaited
    await pool.start()
    await wait_for(lambda: judge_requests_sent(3))  # the one in flight is sent again, the stored one is not
    await standin.release(PAIRWISE_JUDGE)
    done = await ended(gql, admin, experiment, query=JUDGED)
    assert done["status"] == "SUCCEEDED" and states(done) == {"SUCCEEDED": 5, "FAILED": 1}
    assert await batches_sent(app) == before + 1  # the answers' batch was polled again, not sent again
    assert len(await standin.statuses("meddpicc")) == 4  # each answer once
    assert len(judge_requests(await standin.requests())) == 3
    assert sorted(call["judgment"]["state"] for call in done["calls"]) == ["FAILED", "SUCCEEDED"]


async def test_the_judges_prompt_is_an_admins_template_not_an_agents(
    gql: GraphQLClient, tenants: TenantFactory, standin: StandinControl
) -> None:
    admin = await tenants.create()
    member = await tenants.add_user(admin, Role.MEMBER)
    listed = [edge["node"] for edge in (await gql(AGENT_TEMPLATES, as_=admin))["promptTemplates"]["edges"]]
    assert len(listed) == 4 and {template["kind"] for template in listed} == {"AGENT"}
    [builtin] = await judge_templates(gql, admin)
    assert (builtin["kind"], builtin["agent"], builtin["isBuiltin"]) == ("PAIRWISE_JUDGE", None, True)
    assert {label["name"]: label["version"]["version"] for label in builtin["labels"]} == {
        "production": 1,
        "staging": 1,
    }
    [shipped] = [edge["node"] for edge in builtin["versions"]["edges"]]
    assert shipped["outputSchema"]["title"] == PAIRWISE_JUDGE

    forbidden = (await gql.raw(JUDGE_TEMPLATES, {}, as_=member)).json()
    assert forbidden["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    for query, node in ((TEMPLATE, builtin["id"]), (NODE, builtin["id"]), (NODE, shipped["id"])):
        assert (await gql(query, {"id": node}, as_=member)) == {"promptTemplate" if query == TEMPLATE else "node": None}
    assert (await gql(TEMPLATE, {"id": builtin["id"]}, as_=admin))["promptTemplate"]["kind"] == "PAIRWISE_JUDGE"
    assert (await gql(NODE, {"id": shipped["id"]}, as_=admin))["node"] == {"id": shipped["id"]}

    own = {"pairwiseJudge": True, "labels": ["production"], "systemText": "You compare analyses of sales calls."}
    own["userTemplate"] = "Which {{ agent }} answer of the call of {{ meeting.date }} is better?"
    both = (await gql(CREATE, {"input": {**own, "agent": "MEDDPICC"}}, as_=admin))["createPromptVersion"]
    assert [(e["field"], e["code"]) for e in both["errors"]] == [("templateId", "INVALID")]
    first = (await gql(CREATE, {"input": own}, as_=admin))["createPromptVersion"]
    assert first["errors"] == [] and first["promptVersion"]["version"] == 1
    template = first["promptVersion"]["template"]
    assert (template["kind"], template["agent"], template["isBuiltin"]) == ("PAIRWISE_JUDGE", None, False)
    terse = {
        "templateId": template["id"],
        "labels": ["production"],
        "systemText": "Be brief.",
        "userTemplate": "A or B?",
    }
    second = (await gql(CREATE, {"input": terse}, as_=admin))["createPromptVersion"]
    assert second["errors"] == [] and second["promptVersion"]["version"] == 2
    back = (await gql(ROLLBACK, {"t": template["id"]}, as_=admin))["rollbackPrompt"]
    assert back["errors"] == [] and back["label"]["version"]["id"] == first["promptVersion"]["id"]
    override, _ = await judge_templates(gql, admin)
    assert override["id"] == template["id"] and not override["isBuiltin"]
    assert len((await gql(AGENT_TEMPLATES, as_=admin))["promptTemplates"]["edges"]) == 4

    call = (await transcript_for_analysis(gql, admin))["transcript"]
    preview = await gql.raw(RENDER, {"v": first["promptVersion"]["id"], "t": call}, as_=admin)
    assert preview.json()["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    version = await candidate_version(gql, admin)
    dataset = await dataset_of(gql, admin, call)
    as_candidate = await start(
        gql, admin, dataset, version["id"], candidate={"versionId": first["promptVersion"]["id"]}
    )
    assert [(e["field"], e["code"]) for e in as_candidate["errors"]] == [("input.candidate.versionId", "INVALID")]
    experiment = (await start(gql, admin, dataset, version["id"], mode="LIVE", pairwise=True))["experiment"]["id"]
    done = await ended(gql, admin, experiment, query=JUDGED)
    assert done["pairwiseJudgeVersion"]["id"] == first["promptVersion"]["id"]  # the tenant's production version
    [sent] = judge_requests(await standin.requests())
    assert [block["text"] for block in sent["system"]][1] == own["systemText"]
    assert sent["messages"][0]["content"].startswith("Which meddpicc answer of the call of ")
