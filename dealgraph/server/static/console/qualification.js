// A deal's MEDDPICC across its analysed calls: each element's standing and the quotes behind it, each quote
// opening its call at the utterance.
import { h, percent, when, words } from "./dom.js";

export const QUALIFICATION_FIELDS = `qualification {
  analysedCalls
  elements { element status summary confidence callOccurredAt evidence { quote verified utteranceIndex speaker } transcript { id title } }
}`;

function quotes(element) {
  if (!element.evidence.length || !element.transcript) return null;
  const call = encodeURIComponent(element.transcript.id);
  return h(
    "ul",
    { class: "quotes" },
    element.evidence.map((item) =>
      h(
        "li",
        {},
        item.utteranceIndex === null
          ? h("span", { class: "quote unverified" }, `“${item.quote}”`)
          : h("a", { class: item.verified ? "quote" : "quote unverified", href: `#/calls/${call}/u/${item.utteranceIndex}` }, `“${item.quote}”`),
        item.speaker ? h("span", { class: "muted" }, ` — ${item.speaker}`) : null,
        item.verified ? null : h("span", { class: "unverified-label" }, "unverified")
      )
    )
  );
}

export function qualificationTable(qualification) {
  if (!qualification.analysedCalls) return h("p", { class: "muted" }, "No call of this deal has been analysed yet.");
  return [
    h("p", { class: "muted" }, `Across ${qualification.analysedCalls} analysed call(s); each element as the latest call that spoke to it found it.`),
    h(
      "table",
      { id: "qualification" },
      h("tr", {}, h("th", {}, "Element"), h("th", {}, "Status"), h("th", {}, "What was found")),
      qualification.elements.map((element) =>
        h(
          "tr",
          {},
          h("td", {}, words(element.element)),
          h("td", {}, h("span", { class: `badge ${element.status}` }, words(element.status)), element.confidence === null ? null : h("span", { class: "confidence" }, percent(element.confidence))),
          h(
            "td",
            {},
            element.summary || h("span", { class: "muted" }, "nothing yet"),
            element.transcript ? h("div", { class: "muted" }, `${element.transcript.title}, ${when(element.callOccurredAt)}`) : null,
            quotes(element)
          )
        )
      )
    ),
  ];
}
