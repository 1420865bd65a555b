"""Screenshots of the console and GraphiQL for the docs (docs/console/*.png), taken in headless Chromium.

Run against a server with an empty tenant and its key in KEY (docs/console.md has the commands the docs'
pictures were taken with):

    KEY=$(.venv/bin/dealgraph apikey create --tenant acme-corp --role admin | tail -1) \
        .venv/bin/python scripts/console_screenshots.py --url http://127.0.0.1:8000

It adds an account, a deal and a call through the console, analyses the call and saves one picture per view.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
from pathlib import Path

from playwright.sync_api import Page, expect, sync_playwright

OUT = Path(__file__).resolve().parent.parent / "docs" / "console"
CALL = """[00:00:04] Alice Chen: Thanks for joining, everyone. I'd like to understand how you will evaluate this.
[00:00:15] Bob Martinez: Sure. We have to cut onboarding time by forty percent before the Q3 board meeting.
[00:00:32] Alice Chen: What happens if you miss that date?
[00:00:38] Bob Martinez: Then the expansion into two new regions slips a year. That is the real cost.
[00:00:52] Alice Chen: Who signs off on a purchase of this size?
[00:01:00] Bob Martinez: Our CFO, Dana Wright, approves anything above fifty thousand dollars.
[00:01:14] Carol Singh: Security review usually takes three weeks, and legal needs the DPA early.
[00:01:30] Alice Chen: Understood. I can send our SOC 2 report and the DPA this week.
[00:01:41] Bob Martinez: We are also looking at Contoso, but their integration story is weak.
[00:01:58] Alice Chen: What would make the integration a clear win for your team?
[00:02:10] Carol Singh: Single sign-on on day one, and an audit log our compliance team can export.
[00:02:27] Bob Martinez: And the price has to fit what we set aside for this year.
[00:02:40] Alice Chen: What budget did you set aside?
[00:02:46] Bob Martinez: Around one hundred twenty thousand for the first year.
[00:03:02] Alice Chen: Who else should be in the room before a decision?
[00:03:10] Bob Martinez: Dana, and Priya from IT. Priya is the one pushing for this internally.
[00:03:25] Carol Singh: Procurement will want three references from companies our size.
[00:03:40] Alice Chen: I will send three references by Friday and set up a call with Priya next week.
[00:03:55] Bob Martinez: Good. If the pilot works we would like to sign before the end of the quarter.
[00:04:10] Alice Chen: Then let's plan a two-week pilot starting on the first of the month.
[00:04:22] Carol Singh: Please include the data retention settings in the pilot plan.
[00:04:35] Alice Chen: Will do. Thanks, everyone."""


def shoot(page: Page, name: str) -> None:
    page.screenshot(path=str(OUT / f"{name}.png"))
    print(f"docs/console/{name}.png")


def console(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/console")
    page.fill("#sign-in input[name=key]", key)
    page.click("#sign-in button")
    page.fill("#new-account input[name=name]", "Globex")
    page.fill("#new-account input[name=domain]", "globex.example")
    page.click("#new-account button")
    page.fill("#new-deal input[name=name]", "Globex expansion")
    page.select_option("#new-deal select[name=stage]", "DISCOVERY")
    page.fill("#new-deal input[name=amount]", "120000")
    page.click("#new-deal button")
    page.fill("#add-call input[name=title]", "Discovery call")
    page.fill("#add-call input[name=occurredAt]", "2026-11-02T15:00")
    page.fill("#add-call textarea", CALL)
    shoot(page, "add-call")
    page.click("#add-call button")
    page.click("#start-analysis")
    expect(page.locator(".card[data-agent=MEETING_INTELLIGENCE]")).to_have_attribute(
        "data-state", "succeeded", timeout=60_000
    )
    expect(page.locator(".card[data-state=running]").first).to_be_visible()  # the slower agents, still at work
    shoot(page, "analysis-running")
    for card in page.locator(".card").all():
        expect(card).to_have_attribute("data-state", re.compile("succeeded|failed"), timeout=60_000)
    meddpicc = page.locator(".card[data-agent=MEDDPICC]")
    farthest = max(
        int(index) for index in meddpicc.locator("a.quote").evaluate_all("a => a.map(q => q.dataset.utterance)")
    )
    meddpicc.locator(f"a.quote[data-utterance='{farthest}']").first.click()
    expect(page.locator(f"#utterance-{farthest}")).to_be_in_viewport()
    meddpicc.evaluate("card => card.scrollIntoView({block: 'start'})")
    shoot(page, "analysis-results")
    page.click(".crumbs a >> nth=-1")
    expect(page.locator("#health .badge.health")).not_to_have_attribute("data-health", "UNKNOWN", timeout=30_000)
    expect(page.locator("#proposals .card.proposal").first).to_be_visible()
    page.locator("#health").evaluate("health => health.scrollIntoView({block: 'start'})")
    shoot(page, "deal")
    page.click("#nav a[data-section=deals]")
    expect(page.locator("#board li").first).to_be_visible()
    shoot(page, "board")

    page.click("#nav a[data-section=search]")
    page.fill("#search input[name=query]", "where did they push back on price?")
    page.click("#search button")
    expect(page.locator("#hits")).to_be_visible()
    shoot(page, "search")

    page.click("#nav a[data-section=prompts]")
    page.locator("#templates a", has_text="meddpicc").first.click()
    page.fill("#new-version input[name=note]", "as shipped")
    page.click("#new-version button")  # the tenant's own template, overriding the built-in one
    expect(page.locator("h1")).to_contain_text("override")
    system = page.locator("#new-version textarea[name=systemText]")
    system.fill(system.input_value() + "\nAlways ask who owns the budget and when it is approved.")
    page.fill("#new-version input[name=note]", "ask about the budget owner")
    page.click("#new-version button")
    expect(page.locator("#versions tr")).to_have_count(3)
    page.click("#show-diff")
    page.click("#preview")
    expect(page.locator("#preview-system")).to_be_visible()
    page.locator("h2", has_text="Versions").evaluate("heading => heading.scrollIntoView({block: 'start'})")
    shoot(page, "prompts")

    page.fill("#set-label input[name=label]", "candidate")
    page.click("#set-label button")  # the newest version, as the experiment's candidate
    expect(page.locator("#labels tr", has_text="candidate")).to_be_visible()
    page.click("#nav a[data-section=experiments]")
    page.check("#new-dataset input[name=transcript]")
    page.fill("#new-dataset input[name=name]", "Discovery calls")
    page.click("#new-dataset button")
    form = page.locator("#new-experiment")
    expect(form.locator("select[name=dataset]")).to_contain_text("Discovery calls")
    form.locator("input[name=agent][value=MEDDPICC]").check()
    form.locator("input[name=candidate]").fill("candidate")
    form.locator("select[name=mode]").select_option("LIVE")
    form.locator("input[name=pairwise]").check()
    form.locator("input[name=budget]").fill("1")
    page.click("#estimate-experiment")
    expect(page.locator("#estimate")).to_contain_text("requests")
    page.click("#start-experiment")
    expect(page.locator("#experiment-status")).to_have_attribute("data-status", "SUCCEEDED", timeout=60_000)
    shoot(page, "experiments")


def graphiql(page: Page, url: str, key: str) -> None:
    page.goto(f"{url}/graphql")
    editors = "[...document.querySelectorAll('.graphiql-container .CodeMirror')].map(element => element.CodeMirror)"
    page.wait_for_function(f"{editors}.length >= 3")
    headers = json.dumps({"Authorization": f"Bearer {key[:6]}…"}, ensure_ascii=False)
    page.evaluate(
        f"([query, headers]) => {{ const [q, , h] = {editors}; q.setValue(query); h.setValue(headers); }}",
        ["{\n  viewer { role user { email } tenant { name } }\n}\n", json.dumps({"Authorization": f"Bearer {key}"})],
    )
    page.click(".graphiql-execute-button")
    expect(page.locator(".result-window")).to_contain_text('"role"')
    page.evaluate(f"(shown) => {editors}[2].setValue(shown)", headers)  # the key is not in the picture
    shoot(page, "graphiql")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "chromium")
    arguments = parser.parse_args()
    key = os.environ["KEY"]
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=arguments.chromium)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        console(page, arguments.url, key)
        graphiql(page, arguments.url, key)
        browser.close()


if __name__ == "__main__":
    main()
