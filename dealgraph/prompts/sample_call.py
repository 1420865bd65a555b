"""A short discovery call shipped with the package, which `dealgraph llm check` renders every production prompt
version against, so the check sends what a run sends without reading any tenant's calls.

It is a realistic call (a champion, an economic buyer, a security reviewer, a competitor, pains, budget, next
steps), so every agent has something to answer, and long enough that a request's cached prefix (tenant block,
system text, transcript) is above every model's minimum cacheable length (`ModelCapabilities.min_cacheable_tokens`)
on its own: the check must see the API write the cache entry a run's agents share.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from dealgraph.prompts.request import TranscriptForPrompt
from dealgraph.prompts.templates import AccountInfo, DealInfo, PromptContext
from dealgraph.transcripts.formats import TranscriptFormat, parse_transcript

_TITLE = "Discovery call: Northwind onboarding analytics"
_OCCURRED_ON = date(2026, 3, 10)

_TRANSCRIPT = """\
[00:00:04] Priya Raman: Thanks for making the time, everyone. I'd like to understand how onboarding works at Northwind today and what a good outcome would look like for you.
[00:00:19] Tom Becker: Sure. Um, right now every new customer goes through a six-week onboarding, and about a third of them stall in week two because the data import keeps failing.
[00:00:41] Priya Raman: What does a stalled onboarding cost you?
[00:01:02] Tom Becker: Each stalled account is roughly eighteen thousand dollars of delayed revenue, and last quarter we had forty of them. My team spends half its week chasing imports by hand.
[00:01:28] Lena Fischer: And it shows up in churn. Customers who stall in the first month are three times as likely to leave within a year, so the board has asked us to cut onboarding time by forty percent before the Q3 review.
[00:01:55] Priya Raman: Who is driving that goal internally?
[00:02:03] Lena Fischer: I own it. I'm the VP of Customer Operations, and Tom runs the onboarding team day to day.
[00:02:17] Priya Raman: How will you decide whether a tool like ours is the right answer?
[00:02:30] Lena Fischer: Three things. It has to cut the time to first value, it has to plug into Salesforce and our data warehouse without custom code, and security has to sign off.
[00:02:52] Marcus Webb: On the security side, you know, we need SOC 2 Type II, SSO through Okta, and a data processing agreement before any customer data leaves our environment. Our review usually takes three weeks.
[00:03:20] Priya Raman: We can send the SOC 2 report and our standard DPA this week. Who signs the purchase in the end?
[00:03:31] Lena Fischer: Anything above fifty thousand dollars goes to our CFO, Daniel Okafor. He approved the budget line for this project in January, roughly a hundred and twenty thousand for the first year.
[00:03:54] Priya Raman: That helps. Is Daniel involved in the evaluation itself?
[00:04:02] Lena Fischer: Not day to day. He wants a one-page business case with the payback period, and he'll want to see it before the end of April.
[00:04:18] Priya Raman: Are you looking at other options?
[00:04:24] Tom Becker: We had a demo with Contoso last week. Their dashboards looked nice, but their import still needs a consultant for every new data source, which is the exact problem we have now.
[00:04:47] Lena Fischer: We also considered building it ourselves, but engineering can't take it on until next year.
[00:05:02] Priya Raman: Understood. What would a pilot need to prove?
[00:05:11] Tom Becker: Take ten new customers through onboarding in under four weeks, with imports that run without my team touching them.
[00:05:29] Marcus Webb: And the pilot must use anonymised data until the DPA is signed. That's not negotiable.
[00:05:40] Priya Raman: That works. We can run the pilot on a sandbox copy with anonymised records. What does your timeline look like after the pilot?
[00:05:58] Lena Fischer: If the pilot works, we want a contract signed by the end of June, so we go live before the Q3 review in September.
[00:06:14] Priya Raman: Is there anything that could stop this project?
[00:06:21] Lena Fischer: A budget freeze. There's talk of one if the second-quarter numbers come in low, so I'd rather move quickly.
[00:06:37] Tom Becker: Honestly, uh, my worry is adoption. My team has seen three tools in two years and they're tired of change.
[00:06:54] Priya Raman: That's fair. We can include two training sessions for Tom's team in the pilot, and our onboarding lead will join your weekly stand-up.
[00:07:10] Lena Fischer: Good. Then here are the next steps as I see them.
[00:07:16] Priya Raman: Please.
[00:07:19] Lena Fischer: Priya, you send the SOC 2 report, the DPA and a pilot proposal with pricing by Friday. Marcus starts the security review as soon as he has the documents.
[00:07:38] Marcus Webb: I'll start the review the day they arrive, and I'll loop in legal on the DPA.
[00:07:46] Tom Becker: I'll pick the ten pilot customers and share the list of data sources by next Wednesday.
[00:07:57] Lena Fischer: And I'll set up a thirty-minute call with Daniel for the week after next, so you can walk him through the business case.
[00:08:10] Priya Raman: I'll draft the business case with the payback figures from today and send it to you before that call. Thank you all, this was very helpful.
[00:08:21] Lena Fischer: Thanks, Priya. Talk soon.
"""

_UTTERANCES = parse_transcript(_TRANSCRIPT, TranscriptFormat.PLAIN).utterances

SAMPLE_CALL_CONTEXT = PromptContext.for_call(
    _UTTERANCES,
    title=_TITLE,
    occurred_on=_OCCURRED_ON,
    deal=DealInfo(
        name="Northwind onboarding analytics",
        stage="discovery",
        amount="120000.00",
        currency="USD",
        close_date="2026-06-30",
    ),
    account=AccountInfo(name="Northwind Traders", domain="northwind.example"),
    agent="",
)
"""The call's template variables, `agent` blank as in `runs.inputs.CallInputs` (each version's agent fills it)."""

SAMPLE_CALL_TRANSCRIPT = TranscriptForPrompt(
    _TITLE,
    datetime.combine(_OCCURRED_ON, datetime.min.time(), tzinfo=UTC),
    _UTTERANCES,
    SAMPLE_CALL_CONTEXT.transcript,
)
