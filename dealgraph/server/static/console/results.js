// An analysis as four agent cards that follow its events (queued -> running -> result or error), and each
// agent's result as something to read. Every evidence quote links to its utterance in the transcript view.
import { h, percent, words } from "./dom.js";

export const AGENTS = ["MEETING_INTELLIGENCE", "ACTION_ITEMS", "STAKEHOLDERS", "MEDDPICC"];
const TITLES = {
  MEETING_INTELLIGENCE: "Summary and risks",
  ACTION_ITEMS: "Action items",
  STAKEHOLDERS: "Stakeholders",
  MEDDPICC: "MEDDPICC",
};
const MEDDPICC_ELEMENTS = [
  ["metrics", "Metrics"],
  ["economicBuyer", "Economic buyer"],
  ["decisionCriteria", "Decision criteria"],
  ["decisionProcess", "Decision process"],
  ["paperProcess", "Paper process"],
  ["identifyPain", "Identify pain"],
  ["champion", "Champion"],
  ["competition", "Competition"],
];

const EVIDENCE = "evidence { quote verified utteranceIndex speaker start }";
const ELEMENT = `{ status summary confidence ${EVIDENCE} }`;
export const RESULT_FIELDS = `
  __typename
  ... on MeddpiccResult {
    ${MEDDPICC_ELEMENTS.map(([field]) => `${field} ${ELEMENT}`).join(" ")}
    gaps nextQuestions
  }
  ... on ActionItemsResult { items { description owner dueDate priority confidence ${EVIDENCE} } }
  ... on StakeholdersResult {
    stakeholders { name title companySide committeeRole sentiment influence confidence ${EVIDENCE} }
  }
  ... on MeetingIntelligenceResult {
    summary keyTopics nextSteps sentiment sentimentConfidence
    risks { description severity confidence ${EVIDENCE} }
    objections { description confidence ${EVIDENCE} }
  }`;
export const ANALYSIS_EVENTS = `subscription Watch($analysis: ID!) {
  analysisEvents(analysisId: $analysis) {
    __typename
    ... on AgentEvent { agent }
    ... on AgentStarted { attempt }
    ... on AgentProgress { outputTokens }
    ... on AgentFailed { error { code message } }
    ... on AgentSucceeded { run { metadata { model promptVersion outputTokens latencyMs simulated } } result { ${RESULT_FIELDS} } }
    ... on AnalysisFinished { status }
  }
}`;

/** Quotes as links to their moment; a quote the server could not find in the transcript is marked unverified. */
function evidence(items, focus) {
  if (!items || !items.length) return null;
  return h(
    "ul",
    { class: "quotes" },
    items.map((item) => {
      const label = `“${item.quote}”`;
      const linked = item.utteranceIndex !== null && item.utteranceIndex !== undefined;
      const quote = linked
        ? h(
            "a",
            {
              class: item.verified ? "quote" : "quote unverified",
              href: `#utterance-${item.utteranceIndex}`,
              dataset: { utterance: item.utteranceIndex },
              onclick: (event) => {
                event.preventDefault();
                focus(item.utteranceIndex);
              },
            },
            label
          )
        : h("span", { class: "quote unverified" }, label);
      return h(
        "li",
        {},
        quote,
        item.speaker ? h("span", { class: "muted" }, ` — ${item.speaker}`) : null,
        item.verified ? null : h("span", { class: "unverified-label", title: "Not found word for word in the transcript" }, "unverified")
      );
    })
  );
}

function badge(value) {
  return h("span", { class: `badge ${value}` }, words(value));
}

function confidence(value) {
  return h("span", { class: "confidence", title: "confidence" }, percent(value));
}

function chips(values) {
  return values.length ? h("div", { class: "chips" }, values.map((value) => h("span", {}, value))) : null;
}

function listOf(title, values) {
  return values.length ? [h("h3", {}, title), h("ul", {}, values.map((value) => h("li", {}, value)))] : null;
}

const RENDERERS = {
  MeddpiccResult: (result, focus) => [
    MEDDPICC_ELEMENTS.map(([field, name]) => {
      const element = result[field];
      return h(
        "div",
        { class: "element", dataset: { element: field } },
        h("span", { class: "name" }, name),
        badge(element.status),
        confidence(element.confidence),
        h("div", {}, element.summary),
        evidence(element.evidence, focus)
      );
    }),
    listOf("Gaps", result.gaps),
    listOf("Questions for the next call", result.nextQuestions),
  ],
  ActionItemsResult: (result, focus) =>
    result.items.length
      ? result.items.map((item) =>
          h(
            "div",
            { class: "element" },
            h("span", { class: "name" }, item.description),
            badge(item.priority),
            confidence(item.confidence),
            h("div", { class: "muted" }, [item.owner ? `Owner: ${item.owner}` : "No owner", item.dueDate ? ` · due ${item.dueDate}` : ""]),
            evidence(item.evidence, focus)
          )
        )
      : h("p", { class: "muted" }, "No action items."),
  StakeholdersResult: (result, focus) =>
    result.stakeholders.map((person) =>
      h(
        "div",
        { class: "element" },
        h("span", { class: "name" }, person.name),
        person.title ? h("span", { class: "muted" }, `, ${person.title}`) : null,
        badge(person.sentiment),
        confidence(person.confidence),
        h("div", { class: "muted" }, `${words(person.companySide)} · ${words(person.committeeRole)} · ${words(person.influence)} influence`),
        evidence(person.evidence, focus)
      )
    ),
  MeetingIntelligenceResult: (result, focus) => [
    h("p", {}, result.summary),
    h("div", {}, "Sentiment", badge(result.sentiment), confidence(result.sentimentConfidence)),
    chips(result.keyTopics),
    result.risks.length ? h("h3", {}, "Risks") : null,
    result.risks.map((risk) =>
      h("div", { class: "element" }, risk.description, badge(risk.severity), confidence(risk.confidence), evidence(risk.evidence, focus))
    ),
    result.objections.length ? h("h3", {}, "Objections") : null,
    result.objections.map((objection) =>
      h("div", { class: "element" }, objection.description, confidence(objection.confidence), evidence(objection.evidence, focus))
    ),
    listOf("Next steps", result.nextSteps),
  ],
};

/** The four cards of one analysis; `apply(event)` moves a card along as the analysis' events arrive. */
export function agentCards(agents, focus) {
  const cards = new Map();
  const container = h("div", { class: "cards", id: "agent-cards" });
  for (const agent of AGENTS.filter((kind) => agents.includes(kind))) {
    const state = h("span", { class: "state" }, "queued");
    const detail = h("span", { class: "detail" });
    const body = h("div", { class: "body" });
    const card = h("section", { class: "card", dataset: { agent, state: "queued" } }, h("header", {}, h("h2", {}, TITLES[agent]), state, detail), body);
    cards.set(agent, { card, state, detail, body });
    container.append(card);
  }

  function set(agent, name, ...content) {
    const parts = cards.get(agent);
    if (!parts) return;
    parts.card.dataset.state = name;
    parts.state.textContent = name;
    parts.body.replaceChildren(...content.flat(3).filter((item) => item !== null && item !== undefined));
    return parts;
  }

  function apply(event) {
    switch (event.__typename) {
      case "AgentQueued":
        set(event.agent, "queued");
        break;
      case "AgentStarted":
        set(event.agent, "running", h("p", { class: "progress" }, event.attempt > 1 ? `running (attempt ${event.attempt})…` : "running…"));
        break;
      case "AgentProgress":
        set(event.agent, "running", h("p", { class: "progress" }, `writing… ${event.outputTokens} tokens so far`));
        break;
      case "AgentSucceeded": {
        const parts = set(event.agent, "succeeded", RENDERERS[event.result.__typename](event.result, focus));
        const meta = event.run.metadata;
        if (parts && meta) {
          parts.detail.textContent = `${meta.model} · prompt v${meta.promptVersion} · ${meta.latencyMs} ms${meta.simulated ? " · simulated" : ""}`;
        }
        break;
      }
      case "AgentFailed":
        set(event.agent, "failed", h("p", { class: "error" }, `${event.error.code}: ${event.error.message}`));
        break;
      case "AgentCancelled":
        set(event.agent, "cancelled", h("p", { class: "muted" }, "Cancelled."));
        break;
      default:
        break;
    }
  }

  return { element: container, apply };
}
