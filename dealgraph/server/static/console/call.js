// One call: its transcript on the left, its analysis on the right as four live agent cards. Clicking an
// evidence quote (or opening a search hit) scrolls the transcript to the utterance and highlights it.
import { gql, saved, subscribe } from "./api.js";
import { clock, h, show, when } from "./dom.js";
import { link } from "./browse.js";
import { report } from "./problem.js";
import { ANALYSIS_EVENTS, AGENTS, agentCards } from "./results.js";

const CALL = `query Call($id: ID!) {
  transcript(id: $id) {
    id title occurredAt sourceFormat participants
    deal { id name account { id name } }
    utterances(first: 100) { totalCount pageInfo { hasNextPage endCursor } edges { node { index speaker start text } } }
    analyses(first: 1) { edges { node { id status agents createdAt } } }
  }
}`;
const MORE_UTTERANCES = `query Utterances($id: ID!, $after: String) {
  transcript(id: $id) { utterances(first: 100, after: $after) { pageInfo { hasNextPage endCursor } edges { node { index speaker start text } } } }
}`;
const START = `mutation Start($transcript: ID!, $force: Boolean!) {
  startAnalysis(transcriptId: $transcript, force: $force) { analysis { id status agents createdAt } errors { field message code } }
}`;

let stopWatching = () => {};

/** Every utterance of the call (pages of 100). */
async function allUtterances(transcript) {
  const utterances = transcript.utterances.edges.map((edge) => edge.node);
  let page = transcript.utterances.pageInfo;
  while (page.hasNextPage) {
    const more = (await gql(MORE_UTTERANCES, { id: transcript.id, after: page.endCursor })).transcript.utterances;
    utterances.push(...more.edges.map((edge) => edge.node));
    page = more.pageInfo;
  }
  return utterances;
}

export function focusUtterance(index) {
  const target = document.getElementById(`utterance-${index}`);
  if (!target) return;
  for (const previous of document.querySelectorAll(".utterance.highlight")) previous.classList.remove("highlight");
  target.classList.add("highlight");
  target.scrollIntoView({ block: "center", behavior: "smooth" });
}

function analysisPanel(transcriptId, latest) {
  const status = h("span", { class: "muted", id: "analysis-status" });
  const cardsSlot = h("div");
  const watch = (analysis) => {
    stopWatching();
    const cards = agentCards(analysis.agents, focusUtterance);
    cardsSlot.replaceChildren(cards.element);
    status.textContent = `Analysis of ${when(analysis.createdAt)}: ${analysis.status.toLowerCase()}`;
    stopWatching = subscribe(ANALYSIS_EVENTS, { analysis: analysis.id }, {
      next: ({ analysisEvents: event }) => {
        if (event.__typename === "AnalysisFinished") status.textContent = `Analysis of ${when(analysis.createdAt)}: ${event.status.toLowerCase()}`;
        else {
          status.textContent = `Analysis of ${when(analysis.createdAt)}: running`;
          cards.apply(event);
        }
      },
      error: report,
    });
  };
  const start = async (force) => {
    try {
      const analysis = saved((await gql(START, { transcript: transcriptId, force })).startAnalysis, "analysis");
      watch(analysis);
    } catch (error) {
      report(error);
    }
  };
  const panel = h(
    "section",
    { id: "analysis" },
    h(
      "div",
      { class: "toolbar" },
      h("button", { type: "button", id: "start-analysis", onclick: () => start(false) }, latest ? "Analyse again" : "Start analysis"),
      latest ? h("button", { type: "button", class: "secondary", title: "Run the agents even where a result could be reused", onclick: () => start(true) }, "Run all agents again") : null,
      status
    ),
    cardsSlot
  );
  if (latest) watch(latest);
  else cardsSlot.append(h("p", { class: "muted" }, `No analysis yet. Starting one runs ${AGENTS.length} agents and shows each as it finishes.`));
  return panel;
}

export async function callView(id, moment) {
  stopWatching();
  const { transcript } = await gql(CALL, { id });
  if (!transcript) throw new Error("No such call in your tenant.");
  const utterances = await allUtterances(transcript);
  const latest = transcript.analyses.edges.length ? transcript.analyses.edges[0].node : null;
  const deal = transcript.deal;
  show(
    h("div", { class: "crumbs" }, h("a", { href: "#/accounts" }, "Accounts"), " / ", link("accounts", deal.account.id, deal.account.name), " / ", link("deals", deal.id, deal.name)),
    h("h1", {}, transcript.title),
    h("p", { class: "muted" }, `${when(transcript.occurredAt)} · ${transcript.participants.join(", ")}`),
    h(
      "div",
      { class: "columns" },
      h(
        "section",
        { class: "transcript", id: "transcript", "aria-label": "Transcript" },
        utterances.map((utterance) =>
          h(
            "div",
            { class: "utterance", id: `utterance-${utterance.index}`, dataset: { index: utterance.index } },
            utterance.start !== null ? h("span", { class: "time" }, clock(utterance.start)) : null,
            h("span", { class: "speaker" }, utterance.speaker),
            h("span", { class: "text" }, utterance.text)
          )
        )
      ),
      analysisPanel(transcript.id, latest)
    )
  );
  if (moment !== null && moment !== undefined) focusUtterance(moment);
}

export function leaveCall() {
  stopWatching();
  stopWatching = () => {};
}
