// Search every call (keyword, semantic or hybrid); a hit opens its call at the moment it matched.
import { gql } from "./api.js";
import { h, marked, percent, show, when } from "./dom.js";
import { report } from "./problem.js";

const SEARCH = `query Search($query: String!, $mode: SearchMode) {
  searchTranscripts(query: $query, mode: $mode, first: 25) {
    totalCount
    edges { node { relevance snippet matchedBy utterance { index speaker } transcript { id title occurredAt deal { name } } } }
  }
}`;

function hits(result) {
  if (!result.edges.length) return h("p", { class: "muted" }, "Nothing found.");
  return h(
    "ul",
    { class: "list hits", id: "hits" },
    result.edges.map(({ node }) =>
      h(
        "li",
        {},
        h(
          "a",
          { href: `#/calls/${encodeURIComponent(node.transcript.id)}/u/${node.utterance.index}`, class: "hit" },
          h("strong", {}, node.transcript.title),
          h("span", { class: "muted" }, ` · ${node.transcript.deal.name} · ${when(node.transcript.occurredAt)}`)
        ),
        h("div", {}, h("span", { class: "speaker" }, `${node.utterance.speaker}: `), marked(node.snippet)),
        h("div", { class: "muted" }, `relevance ${percent(node.relevance)} · ${node.matchedBy.map((signal) => signal.toLowerCase()).join(", ")}`)
      )
    )
  );
}

export function searchView() {
  const results = h("div", { id: "results" });
  const query = h("input", { name: "query", placeholder: "budget approval, or: where did they push back on price?", size: 50, required: true });
  const mode = h("select", { name: "mode" }, h("option", { value: "" }, "server's default"), ["KEYWORD", "SEMANTIC", "HYBRID"].map((value) => h("option", { value }, value.toLowerCase())));
  const searchForm = h("form", { class: "inline", id: "search" }, query, mode, h("button", { type: "submit" }, "Search"));
  searchForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const { searchTranscripts } = await gql(SEARCH, { query: query.value, mode: mode.value || null });
      results.replaceChildren(h("p", { class: "muted" }, `${searchTranscripts.totalCount} hit(s)`), hits(searchTranscripts));
    } catch (error) {
      report(error);
    }
  });
  show(h("h1", {}, "Search calls"), searchForm, results);
  query.focus();
}
