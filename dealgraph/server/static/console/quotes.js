// Evidence quotes as links that open their call at the quoted moment (the call view scrolls there and
// highlights it), wherever a page shows quotes of a call other than the one beside it.
import { h } from "./dom.js";

/** Quotes as links to their call at the utterance (the call view scrolls there and highlights it). */
export function quoteLinks(quotes, callOf) {
  if (!quotes.length) return null;
  return h(
    "ul",
    { class: "quotes" },
    quotes.map((item) => {
      const call = callOf(item);
      const label = `“${item.quote}”`;
      return h(
        "li",
        {},
        call && item.utteranceIndex !== null
          ? h("a", { class: item.verified ? "quote" : "quote unverified", href: `#/calls/${encodeURIComponent(call)}/u/${item.utteranceIndex}` }, label)
          : h("span", { class: "quote unverified" }, label),
        item.speaker ? h("span", { class: "muted" }, ` — ${item.speaker}`) : null,
        item.verified ? null : h("span", { class: "unverified-label" }, "unverified")
      );
    })
  );
}
