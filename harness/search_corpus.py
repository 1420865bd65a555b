"""A labelled search set: sales calls the project wrote, and paraphrase queries with their relevant moments.

Queries are phrased the way a sales manager asks ("where did they push back on price?"), and the
relevant utterances say it in the customer's words ("that's more than we budgeted"), so a keyword
search alone mostly misses them. Each utterance line may carry `#q…` tags naming the queries it answers.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Call:
    key: str
    deal: str
    account: str
    title: str
    occurred_at: str
    lines: tuple[str, ...]  # "Speaker: text  #q1 #q2"

    def transcript(self) -> str:
        """The call as '[hh:mm:ss] Speaker: text' lines, 40 seconds apart."""
        return (
            "\n".join(f"[{_clock(40 * i)}] {line.split('#', 1)[0].strip()}" for i, line in enumerate(self.lines)) + "\n"
        )

    def relevant(self) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for position, line in enumerate(self.lines):
            for tag in line.split("#")[1:]:
                found.setdefault(tag.strip(), []).append(position)
        return found


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


CALLS: tuple[Call, ...] = (
    Call(
        "nw1",
        "Northwind rollout",
        "Northwind Logistics",
        "Northwind discovery call",
        "2026-09-02T15:00:00+00:00",
        (
            "Maya Patel: Thanks for making the time today, I know the quarter end is busy for you.",
            "Tom Becker: Sure, happy to. We have about forty minutes.",
            "Maya Patel: Could you walk me through how dispatch plans routes today?",
            "Tom Becker: Honestly it's a pile of spreadsheets and a whiteboard, and two people rebuild it every morning.  #q10",
            "Tom Becker: When a driver calls in sick, the whole plan falls apart and we miss delivery windows.  #q10",
            "Maya Patel: How much does a missed window cost you?",
            "Tom Becker: Late fees from the retailers ran close to two hundred thousand last year.  #q11",
            "Maya Patel: Who else would be involved in choosing a tool like this?",
            "Tom Becker: I run operations, but anything over fifty thousand goes to our CFO, Linda, for the final yes.  #q3",
            "Tom Becker: And our IT director, Raj, has to be comfortable with how it connects to the warehouse system.  #q12",
            "Maya Patel: Is there a date you are working towards?",
            "Tom Becker: We want this running before the holiday peak, so realistically live by early November.  #q4",
            "Maya Patel: Are you looking at anyone else?",
            "Tom Becker: We had a demo from Routely last week, and a consultant suggested we just build it in house.  #q5 #q13",
            "Maya Patel: Great, I'll send a short recap and set up a technical session with Raj for next Tuesday.  #q6",
            "Tom Becker: Sounds good, talk then.",
        ),
    ),
    Call(
        "nw2",
        "Northwind rollout",
        "Northwind Logistics",
        "Northwind pricing follow-up",
        "2026-09-16T16:00:00+00:00",
        (
            "Maya Patel: Did you get a chance to look at the proposal I sent over?",
            "Tom Becker: I did. Frankly, that number is a good bit more than we set aside for this year.  #q1",
            "Linda Moore: I'd echo that. Eighty thousand a year is hard to justify against a spreadsheet that costs us nothing.  #q1 #q14",
            "Maya Patel: Understood. What would make the case stronger for you?",
            "Linda Moore: Show me it pays for itself within twelve months, with our own late-fee numbers.  #q15",
            "Maya Patel: We could start with two depots instead of all six, which brings year one down a lot.  #q16",
            "Tom Becker: A phased start would help, yes.  #q16",
            "Linda Moore: Also, we can't do annual upfront. We pay software quarterly, net sixty.  #q17",
            "Maya Patel: Quarterly billing is fine; net sixty I'll need to check with our finance team.  #q17",
            "Linda Moore: And I want the right to walk away after the first year without a penalty.  #q18",
            "Maya Patel: I'll put an opt-out clause after year one into the revised draft.  #q18",
            "Tom Becker: Routely quoted us about thirty percent less, for what it's worth.  #q1 #q5",
            "Maya Patel: Their quote doesn't include live re-planning, which is the part you said hurts most.",
            "Linda Moore: Send the revised numbers by Thursday and we will take it to the budget meeting on the 28th.  #q6 #q19",
        ),
    ),
    Call(
        "fb1",
        "Fabrikam platform",
        "Fabrikam Health",
        "Fabrikam security review",
        "2026-08-20T14:00:00+00:00",
        (
            "Jordan Lee: Welcome everyone, today is mostly for your security folks, right?",
            "Priya Raman: Right. Our infosec team will need to review everything before we can move forward.  #q2",
            "Priya Raman: We hold patient records, so any vendor touching that data needs a signed BAA.  #q2 #q20",
            "Jordan Lee: We sign business associate agreements routinely; I'll send our template today.  #q20",
            "Sam Okafor: Where is the data physically stored? We need it to stay in the United States.  #q21",
            "Jordan Lee: All customer data stays in US regions, with encrypted backups in a second US region.  #q21",
            "Sam Okafor: Do you have a SOC 2 Type II report we can read under NDA?  #q22",
            "Jordan Lee: Yes, the latest report is from March; I'll share it once the NDA is countersigned.  #q22",
            "Sam Okafor: How do your engineers get access to production, and is it logged?  #q23",
            "Jordan Lee: Access is just-in-time, approved by a second engineer, and every session is recorded.  #q23",
            "Sam Okafor: We'll also want to run our own penetration test before go-live.  #q24",
            "Jordan Lee: That's fine, we just ask for a heads-up and a scope document a week ahead.  #q24",
            "Priya Raman: Single sign-on through our Okta tenant is a hard requirement for us.  #q25",
            "Jordan Lee: SAML single sign-on and SCIM provisioning are both in the enterprise plan.  #q25",
            "Priya Raman: If the questionnaire comes back clean, I think we're in good shape.",
            "Jordan Lee: I'll send the security questionnaire answers and the SOC report link by Monday.  #q6",
        ),
    ),
    Call(
        "fb2",
        "Fabrikam platform",
        "Fabrikam Health",
        "Fabrikam procurement and legal",
        "2026-09-10T17:00:00+00:00",
        (
            "Jordan Lee: Thanks for joining, I understand procurement is running the process from here.",
            "Elena Cruz: Yes, I handle vendor contracts. Nothing gets signed without going through my team.  #q3",
            "Elena Cruz: Our legal team has redlines on the liability cap; they want it at twice annual fees.  #q26",
            "Jordan Lee: We can usually go to one and a half times; two times needs sign-off from our general counsel.  #q26",
            "Elena Cruz: We also need you on our vendor portal before we can issue a purchase order.  #q27",
            "Jordan Lee: Send me the portal invite and I'll get our details entered this week.  #q27",
            "Elena Cruz: The budget for this sits with Dr. Okafor's department, and they have already allocated it.  #q28",
            "Priya Raman: The infosec review finished on Friday with two minor findings, both resolved.  #q29",
            "Elena Cruz: Our fiscal year ends in December, so we want the contract executed before then.  #q4 #q19",
            "Jordan Lee: That works. Can we target signature by December first?  #q19",
            "Elena Cruz: Possibly. We're also finishing a comparison with Contoso, mostly on price.  #q5",
            "Elena Cruz: If you can match their multi-year discount, that would make this an easy decision.  #q1 #q30",
            "Jordan Lee: I'll bring a three-year option with a lower annual rate to our next call.  #q30",
            "Elena Cruz: Please send the updated order form and the redlined agreement together.  #q6",
        ),
    ),
    Call(
        "gx1",
        "Globex analytics",
        "Globex Retail",
        "Globex product demo",
        "2026-09-05T13:00:00+00:00",
        (
            "Chris Wong: I'll share my screen and show the dashboard your regional managers would use.",
            "Aisha Grant: Please do. Our store managers are not technical, so it has to be dead simple.  #q31",
            "Chris Wong: Each store sees its sales against target, updated every fifteen minutes.",
            "Aisha Grant: Can it pull from our point-of-sale system? We run an old version of Oracle Retail.  #q12 #q32",
            "Chris Wong: We have a connector for Oracle Retail; older versions may need a nightly file export.  #q32",
            "Aisha Grant: A nightly file would be a step backwards for us, to be honest.  #q32",
            "Ben Foster: What happens to the dashboards when the internet drops in a store?  #q33",
            "Chris Wong: The app caches the last data and shows when it was refreshed, so nothing breaks.  #q33",
            "Aisha Grant: I love the alerts, that's exactly what the district managers keep asking for.  #q34",
            "Ben Foster: How long does a rollout usually take for three hundred stores?  #q35",
            "Chris Wong: Typically eight to ten weeks, with a pilot region in the first three.  #q35",
            "Aisha Grant: The VP of retail operations will make the call, but she listens to what we recommend.  #q3",
            "Ben Foster: We tried Tableau a few years ago and nobody in the stores used it.  #q5 #q36",
            "Chris Wong: I'll set up a sandbox with your sample data and schedule a session with your VP.  #q6",
        ),
    ),
    Call(
        "gx2",
        "Globex analytics",
        "Globex Retail",
        "Globex negotiation",
        "2026-09-24T18:00:00+00:00",
        (
            "Chris Wong: Thanks for the time. Where did the VP land after the sandbox?",
            "Aisha Grant: She liked it, but she's worried about training three hundred store managers.  #q37",
            "Chris Wong: We include live training sessions and a library of two-minute videos.  #q37",
            "Ben Foster: Per-store pricing doesn't work for us, we add and close stores every month.  #q1 #q38",
            "Chris Wong: We could move you to a flat enterprise fee with a band of stores included.  #q38",
            "Aisha Grant: The board froze new spending until the January planning cycle.  #q39",
            "Aisha Grant: So realistically nothing gets approved before the new year.  #q39 #q4",
            "Chris Wong: Would a paid pilot in one region fit under your discretionary limit now?  #q16",
            "Ben Foster: Maybe, if it's under twenty-five thousand I can approve it myself.  #q3 #q16",
            "Aisha Grant: We also heard Contoso is bundling analytics for free with their POS upgrade.  #q5 #q40",
            "Chris Wong: Their bundle covers reporting, not the real-time alerts your managers asked for.  #q40",
            "Ben Foster: Our data team wants to export everything to Snowflake too.  #q41",
            "Chris Wong: There is a nightly Snowflake export included in every plan.  #q41",
            "Aisha Grant: Okay. Send a pilot proposal for the northeast region and we'll review it Friday.  #q6",
        ),
    ),
    Call(
        "in1",
        "Initrode onboarding",
        "Initrode Manufacturing",
        "Initrode kickoff",
        "2026-10-01T15:30:00+00:00",
        (
            "Sofia Rossi: Welcome to the kickoff, I'm your implementation manager.",
            "Mark Hughes: Glad to finally get going. The plant managers have been waiting for months.",
            "Sofia Rossi: First we'll connect your ERP; who owns the SAP side?",
            "Mark Hughes: That's Kevin on IT, he's very protective of the production system.  #q12",
            "Sofia Rossi: We only need read access to a few tables, and we can work from a replica.  #q12",
            "Mark Hughes: Good, because a write to SAP would get this project killed on day one.",
            "Sofia Rossi: Our plan is three phases: data connection, pilot plant, then the other four plants.  #q35",
            "Mark Hughes: The shop floor crews speak mostly Spanish, is the interface translated?  #q42",
            "Sofia Rossi: Yes, Spanish and Portuguese are fully supported, including the alert texts.  #q42",
            "Mark Hughes: One worry: our last vendor disappeared after the contract was signed.  #q43",
            "Sofia Rossi: You'll have weekly check-ins with me and a named support engineer after go-live.  #q43",
            "Mark Hughes: Perfect. Let's meet again next Wednesday once Kevin has set up the replica.  #q6",
        ),
    ),
)

QUERIES: dict[str, str] = {
    "q1": "where did they push back on price?",
    "q2": "who raised security concerns?",
    "q3": "who has authority to approve the purchase",
    "q4": "when do they want to go live or sign",
    "q5": "which competitors or alternatives are they considering",
    "q6": "what did we agree to do next",
    "q10": "pain with their current manual process",
    "q11": "how much money the problem costs them",
    "q12": "integration with their existing systems",
    "q13": "they might build it themselves",
    "q14": "the free option they compare us against",
    "q15": "return on investment requirement",
    "q16": "starting small with a pilot or phased rollout",
    "q17": "payment terms and invoicing schedule",
    "q18": "exit clause to cancel the contract",
    "q19": "deadline for signing the contract",
    "q20": "HIPAA business associate agreement",
    "q21": "data residency, where the data is hosted",
    "q22": "compliance audit report",
    "q23": "how staff access to production is controlled",
    "q24": "they want to pentest the product",
    "q25": "SSO and user provisioning requirement",
    "q26": "legal negotiation over liability",
    "q27": "supplier registration before a PO",
    "q28": "budget is already allocated",
    "q29": "the security assessment is complete",
    "q30": "longer commitment in exchange for a discount",
    "q31": "ease of use for non-technical users",
    "q32": "point of sale data connection",
    "q33": "offline behaviour when the network is down",
    "q34": "feature they were excited about",
    "q35": "implementation timeline",
    "q36": "a previous tool failed because of low adoption",
    "q37": "concern about onboarding and teaching staff",
    "q38": "pricing model does not fit a changing number of locations",
    "q39": "spending freeze delays the decision",
    "q40": "competitor giving it away bundled",
    "q41": "sending data to their warehouse",
    "q42": "language support for workers",
    "q43": "fear of being abandoned after the sale",
}

UNRELATED: tuple[str, ...] = (
    "recipe for banana bread",
    "what is the capital of france",
    "the weather on mars",
    "knitting a wool scarf",
    "photosynthesis in plants",
    "volcano eruption lava",
)
"""Questions no sales call here answers: every hit they get is noise, which the relevance floor should cut."""


def relevant() -> dict[str, set[tuple[str, int]]]:
    """query id -> {(call key, utterance position)}."""
    found: dict[str, set[tuple[str, int]]] = {query: set() for query in QUERIES}
    for call in CALLS:
        for query, positions in call.relevant().items():
            found[query].update((call.key, p) for p in positions)
    return found
