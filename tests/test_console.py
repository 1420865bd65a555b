"""The console (/console) and GraphiQL (GET /graphql) in a real headless Chromium, against `dealgraph serve`.

The browser is Debian's `chromium` (or the one `TEST_CHROMIUM` names) driven by Playwright; no browser is
downloaded. Every request to a host other than the server fails the test: the pages must work offline. The
tests skip only when there is no Chromium on the machine and `TEST_CHROMIUM` is not set (CI sets it, so
there a missing browser fails).
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page, Request, Route, WebSocket, async_playwright, expect

from dealgraph.config import Settings
from dealgraph.db.models import Role
from dealgraph.server.pages import STATIC
from dealgraph.standin import RunningStandin
from tests.analysis_support import start, transcript_for_analysis, wait_until_finished
from tests.processes import process_env, serving
from tests.support import (
    REFUSAL_DEADLINE_S,
    GraphQLClient,
    StandinControl,
    TenantFactory,
    TenantHandle,
    make_settings,
    refused_within,
    server_client,
)

pytestmark = pytest.mark.processes

LOCAL_HOSTS = frozenset({"127.0.0.1", "localhost"})
expect.set_options(timeout=15_000)  # for a condition to hold on a loaded machine (Playwright's default is 5 s)
AGENT_KINDS = ("MEETING_INTELLIGENCE", "ACTION_ITEMS", "STAKEHOLDERS", "MEDDPICC")
ANALYSIS_TIMEOUT_MS = 60_000
CALL = "\n".join(
    f"[00:{i // 60:02d}:{i % 60:02d}] {('Alice Chen', 'Bob Martinez', 'Dana Wright')[i % 3]}: "
    f"Point {i}: the budget approval, the security review and the rollout plan, part {i}."
    for i in range(60)
)
"""Long enough that the transcript pane must scroll to show most of its utterances."""
CARD_STATES = """
window.cardStates = {};
new MutationObserver((records) => {
  for (const record of records) {
    const cards = record.type === "attributes" ? [record.target] : [...record.addedNodes].flatMap(
      (node) => node.querySelectorAll ? [...(node.matches(".card") ? [node] : []), ...node.querySelectorAll(".card")] : []);
    for (const card of cards) {
      if (!card.dataset || !card.dataset.agent) continue;
      (window.cardStates[card.dataset.agent] ||= []).push(card.dataset.state);
    }
  }
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-state"] });
"""
"""Records every state each agent card shows, so the test sees queued -> running -> succeeded, not only the end."""


def chromium_path() -> str:
    named = os.environ.get("TEST_CHROMIUM")
    if named:
        assert os.access(named, os.X_OK), f"TEST_CHROMIUM={named} is not an executable browser"
        return named
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip("no Chromium on this machine: install Debian's `chromium` (apt-get install chromium) to run it")
    return found


@pytest.fixture(scope="module")
def settings(database_url: str, standin_server: RunningStandin) -> Settings:
    """The in-process app only makes tenants: the served process runs the analyses."""
    return make_settings(database_url, standin_server.base_url, analysis_slots=0)


@pytest.fixture(scope="module")
def base_url(database_url: str, standin_server: RunningStandin) -> Iterator[str]:
    """`dealgraph serve` against the session's stand-in, which the tests script (`standin`)."""
    with serving(process_env(database_url, standin_server.base_url)) as (url, _process):
        yield url


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    executable = chromium_path()
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=executable)
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Offline:
    """What the page asked of hosts other than the server (each refused)."""

    foreign: list[str] = field(default_factory=list)

    async def route(self, route: Route, request: Request) -> None:
        if urlsplit(request.url).hostname in LOCAL_HOSTS or request.url.startswith("data:"):
            await route.continue_()
        else:
            self.foreign.append(request.url)
            await route.abort()

    def socket(self, socket: WebSocket) -> None:
        if urlsplit(socket.url).hostname not in LOCAL_HOSTS:
            self.foreign.append(socket.url)


@pytest.fixture
async def page(browser: Browser) -> AsyncIterator[Page]:
    offline = Offline()
    context = await browser.new_context(viewport={"width": 1400, "height": 900})
    await context.route("**/*", offline.route)
    opened = await context.new_page()
    opened.on("websocket", offline.socket)
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield opened
    finally:
        await context.close()
    assert offline.foreign == [], f"the page asked other hosts: {offline.foreign}"
    assert errors == [], f"uncaught errors in the page: {errors}"


async def sign_in(page: Page, base_url: str, who: TenantHandle, role: str = "admin") -> None:
    await page.goto(f"{base_url}/console")
    await page.fill("#sign-in input[name=key]", who.api_key)
    await page.click("#sign-in button")
    await expect(page.locator("#who")).to_contain_text(role)


async def add_call_from_file(page: Page) -> None:
    await page.fill("#new-account input[name=name]", "Globex")
    await page.click("#new-account button")
    await page.fill("#new-deal input[name=name]", "Globex expansion")
    await page.fill("#new-deal input[name=amount]", "120000")
    await page.click("#new-deal button")
    upload = {"name": "Discovery call.txt", "mimeType": "text/plain", "buffer": CALL.encode()}
    await page.set_input_files("#add-call input[type=file]", files=[upload])
    await expect(page.locator("#add-call input[name=title]")).to_have_value("Discovery call")
    await expect(page.locator("#add-call textarea")).to_have_value(CALL)
    await page.click("#add-call button")
    await expect(page.locator(".utterance")).to_have_count(60)


async def test_console_analyses_a_call_and_each_quote_opens_its_moment(
    page: Page, base_url: str, tenants: TenantFactory, standin: StandinControl
) -> None:
    for agent in AGENT_KINDS:  # a moment each, so every card is seen running
        await standin.behave(agent.lower(), latency_s=0.4)
    who = await tenants.create()
    await page.add_init_script(CARD_STATES)
    await sign_in(page, base_url, who)
    await add_call_from_file(page)

    await page.click("#start-analysis")
    for agent in AGENT_KINDS:
        card = page.locator(f".card[data-agent={agent}]")
        await expect(card).to_have_attribute("data-state", "succeeded", timeout=ANALYSIS_TIMEOUT_MS)
    states = await page.evaluate("window.cardStates")
    for agent in AGENT_KINDS:
        seen = states[agent]
        assert seen[0] == "queued" and "running" in seen and seen[-1] == "succeeded", (agent, seen)
        assert seen.index("running") < seen.index("succeeded"), (agent, seen)
    meddpicc = page.locator(".card[data-agent=MEDDPICC]")
    await expect(meddpicc.locator(".element[data-element=economicBuyer] .badge")).to_have_count(1)

    indexes = [
        int(index)
        for index in await page.eval_on_selector_all("a.quote", "links => links.map(link => link.dataset.utterance)")
    ]
    assert indexes, "no evidence quote links to its utterance"
    farthest = max(indexes)
    assert farthest >= 20, f"every quote is near the top ({indexes}): the scroll would not be tested"
    await page.locator(f"a.quote[data-utterance='{farthest}']").first.click()
    moment = page.locator(f"#utterance-{farthest}")
    await expect(moment).to_have_class(re.compile(r"\bhighlight\b"))
    await expect(moment).to_be_in_viewport()
    await page.wait_for_function("document.getElementById('transcript').scrollTop > 0")
    await expect(page.locator(".utterance.highlight")).to_have_count(1)

    await page.click(".crumbs a >> nth=-1")  # the deal: its MEDDPICC across its calls, quotes opening the call
    await expect(page.locator("#qualification tr")).to_have_count(9)  # a header and the eight elements
    quote = page.locator("#qualification a.quote").first
    target = await quote.get_attribute("href")
    assert target is not None
    await quote.click()
    await expect(page.locator(f"#utterance-{target.rsplit('/', 1)[1]}")).to_have_class(re.compile(r"\bhighlight\b"))


UPDATE_NEXT_STEP = (
    """mutation($id: ID!) { updateDeal(input: {id: $id, nextStep: "Send the order form."}) { errors { code } } }"""
)

REJECT_ELSEWHERE = (
    """mutation($id: ID!) { rejectProposal(id: $id, reason: "Decided in another tab.") { errors { code } } }"""
)


async def test_a_deal_shows_its_health_and_proposals_and_a_person_decides_them(
    page: Page, base_url: str, tenants: TenantFactory, gql: GraphQLClient
) -> None:
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await add_call_from_file(page)
    await page.click("#start-analysis")
    await expect(page.locator("#analysis-status")).to_contain_text("succeeded", timeout=ANALYSIS_TIMEOUT_MS)
    await page.click(".crumbs a >> nth=-1")

    health = page.locator("#health .badge.health")
    await expect(health).not_to_have_attribute("data-health", "UNKNOWN")  # computed in the background, pushed live
    await expect(page.locator("#stage-history tr")).to_have_count(2)  # a header and the stage it was created in
    proposals = page.locator("#proposals .card.proposal")
    await expect(proposals.first).to_be_visible()
    close_date = page.locator("#proposals .card.proposal[data-field=CLOSE_DATE]")
    await expect(close_date).to_have_attribute("data-status", "SUGGESTED")
    await expect(close_date.locator("a.quote").first).to_be_visible()  # its evidence
    await expect(close_date.locator(".current")).to_have_text("not set")
    proposed = await close_date.locator(".proposed").inner_text()
    await expect(page.locator("#deal-fields [data-field=closeDate]")).to_have_text("not set")

    await close_date.locator("button.accept").click()
    await expect(page.locator("#deal-fields [data-field=closeDate]")).to_have_text(proposed)
    await expect(close_date).to_have_attribute("data-status", "ACCEPTED")
    await expect(close_date.locator("button")).to_have_count(0)  # decided: nothing more to decide

    next_step = page.locator("#proposals .card.proposal[data-field=NEXT_STEP]")
    await expect(next_step).to_have_attribute("data-status", "SUGGESTED")
    deal_id = unquote(urlsplit(page.url).fragment.rsplit("/", 1)[1])
    assert (await gql(UPDATE_NEXT_STEP, {"id": deal_id}, as_=who))["updateDeal"]["errors"] == []
    await next_step.locator("button.accept").click()  # the deal's next step changed since it was proposed
    await expect(page.locator("#problem")).to_contain_text("changed since this proposal was made")
    await expect(page.locator("#problem .code")).to_have_text("CONFLICT")
    await expect(page.locator("#deal-fields [data-field=nextStep]")).to_have_text("Send the order form.")
    await expect(next_step).to_have_attribute("data-status", "SUGGESTED")
    await next_step.locator("button.reject").click()
    await next_step.locator("form.reject input[name=reason]").fill("Already agreed otherwise.")
    await next_step.locator("form.reject button").click()
    await expect(next_step).to_have_attribute("data-status", "REJECTED")
    await expect(next_step).to_contain_text("Already agreed otherwise.")
    await expect(page.locator("#deal-fields [data-field=nextStep]")).to_have_text("Send the order form.")

    email = page.locator("#proposals .card.proposal[data-field=FOLLOW_UP_EMAIL]")
    decided_elsewhere = await email.get_attribute("data-id")
    rejected = (await gql(REJECT_ELSEWHERE, {"id": decided_elsewhere}, as_=who))["rejectProposal"]
    assert rejected["errors"] == []
    await expect(page.locator(f"#proposals .card[data-id='{decided_elsewhere}']")).to_have_attribute(
        "data-status", "REJECTED"
    )  # pushed by dealEvents: the page was not reloaded

    warnings = await page.locator("#health .warning").count()
    quote = page.locator("#health .warning a.quote").first
    target = await quote.get_attribute("href")
    assert target is not None
    await quote.click()
    moment = page.locator(f"#utterance-{target.rsplit('/', 1)[1]}")
    await expect(moment).to_have_class(re.compile(r"\bhighlight\b"))
    await expect(moment).to_be_in_viewport()

    await page.click("#nav a[data-section=deals]")  # the board: the deal with its health and warnings
    row = page.locator("#board li")
    await expect(row).to_have_count(1)
    await expect(row.locator(".warnings-count")).to_have_text(f"{warnings} warning(s)")
    status = await row.get_attribute("data-health")
    assert status in {"ON_TRACK", "AT_RISK", "OFF_TRACK"}
    await page.select_option("#board-health", "ON_TRACK" if status != "ON_TRACK" else "OFF_TRACK")
    await expect(page.locator("#board")).to_have_count(0)
    await page.select_option("#board-health", status)
    await expect(row).to_have_count(1)

    await row.locator("a").click()  # back to the deal: a stage of the person's own, not the one proposed
    stage = page.locator("#proposals .card.proposal[data-field=STAGE]")
    own = "NEGOTIATION" if await stage.locator(".proposed").inner_text() != "negotiation" else "PROPOSAL"
    await stage.locator("button.edit").click()
    await stage.locator("form.edit select").select_option(own)
    await stage.locator("form.edit button").click()
    await expect(stage).to_have_attribute("data-status", "EDITED")
    await expect(page.locator("#deal-fields [data-field=stage]")).to_have_text(own.lower())
    await expect(page.locator("#stage-history tr")).to_have_count(3)


async def test_an_agent_that_fails_shows_its_error_on_its_card(
    page: Page, base_url: str, tenants: TenantFactory, standin: StandinControl
) -> None:
    await standin.behave("stakeholders", fail_always=400)  # invalid_request_error: not retried
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await add_call_from_file(page)
    await page.click("#start-analysis")
    failed = page.locator(".card[data-agent=STAKEHOLDERS]")
    await expect(failed).to_have_attribute("data-state", "failed", timeout=ANALYSIS_TIMEOUT_MS)
    await expect(failed.locator(".error")).to_contain_text("BAD_REQUEST")
    await expect(page.locator("#analysis-status")).to_contain_text("partial", timeout=ANALYSIS_TIMEOUT_MS)
    await expect(page.locator(".card[data-state=succeeded]")).to_have_count(3)


UNVERIFIED_RESULT = """([agents, elements]) => import("./static/console/results.js").then(({ agentCards }) => {
  const element = (evidence) => ({ status: "PARTIAL", summary: "s", confidence: 0.5, evidence });
  const quote = (text, verified, utteranceIndex) => ({ quote: text, verified, utteranceIndex, speaker: "Bob", start: null });
  const result = { __typename: "MeddpiccResult", gaps: [], nextQuestions: [] };
  for (const name of elements) result[name] = element([]);
  result.champion = element([quote("said", true, 3), quote("paraphrased", false, 4), quote("invented", false, null)]);
  const cards = agentCards(agents, () => {});
  document.getElementById("main").replaceChildren(cards.element);
  cards.apply({ __typename: "AgentSucceeded", agent: "MEDDPICC", run: { metadata: null }, result });
})"""


async def test_quotes_not_found_in_the_transcript_are_marked_unverified(
    page: Page, base_url: str, tenants: TenantFactory
) -> None:
    """The MEDDPICC card fed a result (the stand-in only quotes real lines): a quote the server could not verify
    says so, and one it could not place in the transcript links nowhere."""
    await sign_in(page, base_url, await tenants.create())
    elements = [
        "metrics",
        "economicBuyer",
        "decisionCriteria",
        "decisionProcess",
        "paperProcess",
        "identifyPain",
        "champion",
        "competition",
    ]
    await expect(page.locator("#new-account")).to_be_visible()  # the accounts view is drawn: nothing redraws it
    await page.evaluate(UNVERIFIED_RESULT, [["MEDDPICC"], elements])
    champion = page.locator(".element[data-element=champion] li")
    await expect(champion).to_have_count(3)
    await expect(champion.nth(0).locator("a.quote:not(.unverified)")).to_have_attribute("data-utterance", "3")
    await expect(champion.nth(0).locator(".unverified-label")).to_have_count(0)
    await expect(champion.nth(1).locator("a.quote.unverified")).to_have_attribute("data-utterance", "4")
    await expect(champion.nth(1).locator(".unverified-label")).to_have_text("unverified")
    await expect(champion.nth(2).locator("a")).to_have_count(0)
    await expect(champion.nth(2).locator(".unverified-label")).to_have_text("unverified")


async def test_members_see_no_prompt_or_experiment_administration(
    page: Page, base_url: str, tenants: TenantFactory
) -> None:
    await sign_in(page, base_url, await tenants.create(role=Role.MEMBER), role="member")
    await expect(page.locator("#nav a[data-section=search]")).to_be_visible()
    await expect(page.locator("#nav a[data-section=prompts]")).to_be_hidden()
    await expect(page.locator("#nav a[data-section=experiments]")).to_be_hidden()


async def test_a_search_hit_opens_the_call_at_its_moment(page: Page, base_url: str, tenants: TenantFactory) -> None:
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await add_call_from_file(page)

    await page.click("#nav a[data-section=search]")
    await page.fill("#search input[name=query]", '"part 47"')
    await page.select_option("#search select[name=mode]", "KEYWORD")
    await page.click("#search button")
    hit = page.locator("#hits a.hit")
    await expect(hit).to_have_count(1)
    await expect(page.locator("#hits mark").first).to_contain_text("47")
    await hit.click()
    moment = page.locator("#utterance-47")
    await expect(moment).to_have_class(re.compile(r"\bhighlight\b"))
    await expect(moment).to_be_in_viewport()


async def test_api_errors_read_as_messages_and_a_revoked_key_signs_out(
    page: Page, base_url: str, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await page.fill("#new-account input[name=name]", "x" * 300)
    await page.click("#new-account button")
    problem = page.locator("#problem")
    await expect(problem).to_be_visible()
    await expect(problem).to_contain_text("Not saved.")
    await expect(problem).to_contain_text("name")

    await tenants.revoke(who)
    async with server_client(base_url, timeout=10) as client:
        await refused_within(client, who, REFUSAL_DEADLINE_S)
    await page.click("#nav a[data-section=search]")
    await page.fill("#search input[name=query]", "budget")
    await page.click("#search button")
    await expect(page.locator("#signed-out")).to_contain_text("refused the API key")
    assert await page.evaluate("sessionStorage.length") == 0


ADDED_LINE = "Ask who owns the budget."


async def test_admins_version_diff_label_roll_back_and_preview_prompts(
    page: Page, base_url: str, tenants: TenantFactory
) -> None:
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await add_call_from_file(page)
    await page.click("#nav a[data-section=prompts]")
    await page.locator("#templates a", has_text="meddpicc (built-in)").click()
    await page.fill("#new-version input[name=note]", "as shipped")
    await page.click("#new-version button")  # a built-in template is read-only: this makes the tenant's own
    await expect(page.locator("h1")).to_contain_text("tenant override")
    system = page.locator("#new-version textarea[name=systemText]")
    await system.fill(f"{await system.input_value()}\n{ADDED_LINE}")
    await page.click("#new-version button")
    await expect(page.locator("#versions tr")).to_have_count(3)  # a header, v2 and v1

    await page.click("#show-diff")  # from the oldest version to the newest
    await expect(page.locator("#diff .add", has_text=ADDED_LINE)).to_have_count(1)
    await page.click("#preview")  # the newest version, for the call just added
    await expect(page.locator("#preview-system")).to_contain_text(ADDED_LINE)

    canary = page.locator("#labels tr", has_text="canary")
    for version in ("v2", "v1"):
        await page.fill("#set-label input[name=label]", "canary")
        await page.select_option("#set-label select", label=version)
        await page.click("#set-label button")
        await expect(canary).to_contain_text(version)
    await canary.get_by_role("button", name="Roll back").click()
    await expect(canary).to_contain_text("v2")


CANDIDATE = """mutation {
  createPromptVersion(input: {agent: MEDDPICC, labels: ["candidate"],
      systemText: "You qualify sales calls for {{ account.name }} with MEDDPICC.",
      userTemplate: "Deal {{ deal.name }}. Call the `{{ agent }}` tool."}) { errors { message } }
}"""


async def test_admins_run_an_experiment_watch_it_end_read_its_diff_and_verdicts_and_promote_it(
    page: Page, base_url: str, tenants: TenantFactory, gql: GraphQLClient, standin: StandinControl
) -> None:
    who = await tenants.create()
    await sign_in(page, base_url, who)
    await add_call_from_file(page)
    await page.click("#start-analysis")  # the production prompt's MEDDPICC result is then the stored baseline
    await expect(page.locator("#analysis-status")).to_contain_text("succeeded", timeout=ANALYSIS_TIMEOUT_MS)
    second = (await transcript_for_analysis(gql, who))["transcript"]  # a second call, its baseline stored too
    analysis = await start(gql, who, second, agents=["MEDDPICC"])
    await wait_until_finished(gql, who, analysis["id"], timeout=ANALYSIS_TIMEOUT_MS / 1000)
    assert (await gql(CANDIDATE, as_=who))["createPromptVersion"]["errors"] == []

    await page.click("#nav a[data-section=experiments]")
    picked = page.locator("#new-dataset input[name=transcript]")
    await expect(picked).to_have_count(2)
    for index in range(2):
        await picked.nth(index).check()
    await page.fill("#new-dataset input[name=name]", "Discovery calls")
    await page.click("#new-dataset button")
    form = page.locator("#new-experiment")
    await expect(form.locator("select[name=dataset]")).to_contain_text("Discovery calls (v1)")
    await form.locator("input[name=agent][value=MEDDPICC]").check()
    await form.locator("input[name=candidate]").fill("candidate")
    await form.locator("select[name=mode]").select_option("LIVE")
    await expect(page.locator("#start-experiment")).to_be_disabled()  # the estimate comes first
    await page.click("#estimate-experiment")
    await expect(page.locator("#estimate")).to_contain_text("2 requests,")  # the two candidates'
    await form.locator("input[name=pairwise]").check()  # the judge's requests change it: it is asked again
    await expect(page.locator("#start-experiment")).to_be_disabled()
    await expect(page.locator("#estimate")).to_be_empty()
    await page.click("#estimate-experiment")
    await expect(page.locator("#estimate")).to_contain_text("4 requests (2 of them the pairwise judge's")
    await form.locator("input[name=budget]").fill("0.000001")
    await page.click("#start-experiment")
    await expect(page.locator("#problem")).to_contain_text("budgetUsd")  # over budget: refused, in words

    await standin.behave("meddpicc", invalid_output_times=1, held=True)  # one candidate answer breaks the schema
    await form.locator("input[name=budget]").fill("1")
    await page.click("#start-experiment")
    await expect(page.locator("#experiment-progress")).to_have_text("2 of 6")  # the baselines were stored already
    await expect(page.locator("#cancel-experiment")).to_be_visible()
    await standin.release("meddpicc")  # its end arrives over experimentEvents
    await expect(page.locator("#experiment-status")).to_have_attribute(
        "data-status", "SUCCEEDED", timeout=ANALYSIS_TIMEOUT_MS
    )
    await expect(page.locator("#pairwise-judge")).to_have_text("version 1")
    schema = page.locator("#scores tr[data-score=SCHEMA_FAILURES] td")
    await expect(schema).to_have_text(["schema failures", "0", "1", "1"])
    await expect(page.locator("#pairwise td[data-count=unjudged]")).to_have_text("1")
    decided = page.locator("#pairwise td[data-count$=wins], #pairwise td[data-count=ties]")
    assert sorted(await decided.all_inner_texts()) == ["0", "0", "1"]  # one call judged, whichever side won
    cards = page.locator("#calls .card.call-diff")
    broken = cards.filter(has=page.locator(".judgment[data-state=SKIPPED]"))  # nothing to compare it with
    await expect(broken).to_have_attribute("data-regressed", "true")
    await expect(broken.locator("table.fields tr")).to_have_count(9)  # a header and the eight element statuses
    await expect(broken.locator(".judgment")).to_contain_text("the candidate's answer failed (INVALID_OUTPUT)")
    judged = cards.filter(has=page.locator(".judgment[data-state=SUCCEEDED]")).locator(".judgment")
    await expect(judged).to_have_attribute("data-winner", re.compile("^(BASELINE|CANDIDATE|TIE)$"))
    await expect(judged.locator("p").first).to_contain_text(re.compile(r"(is better|a tie) confidence \d+ %"))
    await expect(judged.locator(".reason")).not_to_be_empty()

    await page.click("#promote")
    await expect(page.locator("#promote-refused")).to_contain_text("regressed on schema failures")
    await page.click("#force-promote")
    await expect(page.locator("#promoted")).not_to_have_text("no")
    await page.click("#nav a[data-section=experiments]")
    await expect(page.locator("#experiments tr[data-status=SUCCEEDED]")).to_have_count(1)
    await page.locator("#experiments a").first.click()
    quote = judged.locator("a.quote").first  # the judge's quote opens its call at that moment
    moment = re.search(r"/u/(\d+)$", str(await quote.get_attribute("href")))
    assert moment is not None
    await quote.click()
    await expect(page.locator(".utterance.highlight")).to_have_attribute("data-index", moment[1])
    await page.go_back()
    title = await broken.locator("header a").inner_text()
    await broken.locator("header a").click()  # the call's transcript
    await expect(page.locator("h1")).to_have_text(title)


EDITORS = "[...document.querySelectorAll('.graphiql-container .CodeMirror')].map(element => element.CodeMirror)"
"""GraphiQL's editors (CodeMirror 5): the query, the variables and the headers."""


async def run_in_graphiql(page: Page, query: str, headers: dict[str, str]) -> None:
    await page.evaluate(
        f"""([query, headers]) => {{
            const [queryEditor, , headersEditor] = {EDITORS};
            queryEditor.setValue(query);
            headersEditor.setValue(headers);
        }}""",
        [query, json.dumps(headers)],
    )
    await page.click(".graphiql-execute-button")


async def test_graphiql_renders_offline_and_runs_a_query_and_a_subscription_with_a_key(
    page: Page, base_url: str, tenants: TenantFactory, gql: GraphQLClient
) -> None:
    who = await tenants.create()
    await page.goto(f"{base_url}/graphql")
    await expect(page.locator("#about")).to_contain_text("graphql-transport-ws")
    await expect(page.locator(".graphiql-container")).to_be_visible()
    await page.wait_for_function(f"{EDITORS}.length >= 3")

    await run_in_graphiql(page, "{ viewer { role } }", who.headers)
    await expect(page.locator(".result-window")).to_contain_text('"role": "ADMIN"')

    analysis = await start(gql, who, (await transcript_for_analysis(gql, who))["transcript"])
    watch = f'subscription {{ analysisEvents(analysisId: "{analysis["id"]}") {{ __typename }} }}'
    await run_in_graphiql(page, watch, who.headers)  # the key goes in the socket's connection_init
    await expect(page.locator(".result-window")).to_contain_text("AnalysisFinished", timeout=ANALYSIS_TIMEOUT_MS)


@pytest.mark.parametrize("path", ["/console", "/graphql"])
async def test_pages_load_only_the_servers_own_files(http: httpx.AsyncClient, path: str) -> None:
    """Without a browser too: each page is held to the server's files by its policy, and every file it names is
    there (a vendored file left out of the package would break the page)."""
    page = await http.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    files = re.findall(r'(?:src|href)="(static/[^"]+)"', page.text)
    assert any("vendor/" in file for file in files), files
    assert "//" not in " ".join(files)
    for file in files:
        assert (await http.get(f"/{file}")).status_code == 200, file


def test_every_vendored_package_ships_its_files_and_licence() -> None:
    """What scripts/refresh_vendored.py fetched matches its manifest, and each package carries its licence."""
    vendor = STATIC / "vendor"
    manifest = json.loads((vendor / "manifest.json").read_text())
    for name, package in manifest.items():
        shipped = {path.name for path in (vendor / name).iterdir()}
        assert shipped == {Path(file).name for file in package["files"]} | {"SOURCE"}, name
        assert any(file.startswith("LICENSE") for file in shipped), name
        assert f"{name}@{package['version']} " in (vendor / name / "SOURCE").read_text(), name
