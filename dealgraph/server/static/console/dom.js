// Building the page from data without innerHTML: customer text (transcripts, quotes, names) is only ever
// set as text, so nothing in it can run.

export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  append(element, children);
  return element;
}

function append(element, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(element, child);
    else element.append(child instanceof Node ? child : String(child));
  }
}

export function show(...children) {
  const main = document.getElementById("main");
  main.replaceChildren();
  append(main, children);
}

export function percent(value) {
  return `${Math.round(value * 100)} %`;
}

export function when(value) {
  return value ? new Date(value).toLocaleString() : "";
}

export function clock(seconds) {
  if (seconds === null || seconds === undefined) return null;
  const whole = Math.floor(seconds);
  const parts = [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), whole % 60];
  return parts.map((part) => String(part).padStart(2, "0")).join(":");
}

export function words(enumValue) {
  return enumValue.toLowerCase().replaceAll("_", " ");
}

/** A search snippet: text in which the server marked the matches with <mark>; everything else stays text. */
export function marked(snippet) {
  const container = h("span", { class: "snippet" });
  snippet.split(/(<mark>.*?<\/mark>)/s).forEach((piece) => {
    const match = /^<mark>(.*)<\/mark>$/s.exec(piece);
    container.append(match ? h("mark", {}, match[1]) : piece);
  });
  return container;
}
