// The console's entry point: sign-in with an API key, the header, and the routes (the part of the URL
// after #, so every view can be linked and reloaded).
import { apiKey, gql, onSignedOut, signIn, signOut } from "./api.js";
import { accountView, accountsView, dealView } from "./browse.js";
import { boardView } from "./board.js";
import { callView, leaveCall } from "./call.js";
import { leaveDeal } from "./dealroom.js";
import { h, show } from "./dom.js";
import { experimentView, experimentsView, leaveExperiment } from "./experiments.js";
import { clearProblem, report } from "./problem.js";
import { promptsView, templateView } from "./prompts.js";
import { searchView } from "./search.js";

const VIEWER = `query Viewer { viewer { role user { email } tenant { name } } }`;

const ROUTES = [
  [/^#\/accounts$/, "accounts", () => accountsView()],
  [/^#\/accounts\/([^/]+)$/, "accounts", (id) => accountView(id)],
  [/^#\/deals$/, "deals", () => boardView()],
  [/^#\/deals\/([^/]+)$/, "deals", (id) => dealView(id)],
  [/^#\/calls\/([^/]+)(?:\/u\/(\d+))?$/, "accounts", (id, moment) => callView(id, moment === undefined ? null : Number(moment))],
  [/^#\/search$/, "search", () => searchView()],
  [/^#\/prompts$/, "prompts", () => promptsView()],
  [/^#\/prompts\/([^/]+)$/, "prompts", (id) => templateView(id)],
  [/^#\/experiments$/, "experiments", () => experimentsView()],
  [/^#\/experiments\/([^/]+)$/, "experiments", (id) => experimentView(id)],
];

let viewer = null;

function signInView(reason) {
  const key = h("input", { name: "key", type: "password", placeholder: "dg_…", autocomplete: "off", required: true });
  const signInForm = h(
    "form",
    { class: "signin", id: "sign-in" },
    h("h1", {}, "Sign in"),
    h("p", { class: "muted" }, "With an API key (`dealgraph apikey create`). It stays in this browser tab and is gone when the tab closes."),
    reason ? h("p", { class: "error", id: "signed-out" }, reason) : null,
    key,
    h("button", { type: "submit" }, "Sign in")
  );
  signInForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    clearProblem();
    signIn(key.value.trim());
    await start();
  });
  show(signInForm);
  key.focus();
}

function header() {
  const signedIn = viewer !== null;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("sign-out").hidden = !signedIn;
  document.getElementById("who").textContent = signedIn ? `${viewer.user.email} · ${viewer.tenant.name} · ${viewer.role.toLowerCase()}` : "";
  for (const link of document.querySelectorAll("[data-admin]")) link.hidden = !(signedIn && viewer.role === "ADMIN");
}

async function route() {
  leaveCall();
  leaveDeal();
  leaveExperiment();
  clearProblem();
  const hash = location.hash || "#/accounts";
  for (const [pattern, section, view] of ROUTES) {
    const match = pattern.exec(hash);
    if (!match) continue;
    for (const link of document.querySelectorAll("#nav a")) link.classList.toggle("current", link.dataset.section === section);
    try {
      await view(...match.slice(1).map((part) => (part === undefined ? undefined : decodeURIComponent(part))));
    } catch (error) {
      if (apiKey()) report(error);
    }
    return;
  }
  location.hash = "#/accounts";
}

async function start() {
  if (!apiKey()) {
    signInView(null);
    return;
  }
  try {
    viewer = (await gql(VIEWER)).viewer;
  } catch (error) {
    if (apiKey()) report(error); // a refused key has signed out already, saying so
    return;
  }
  header();
  await route();
}

onSignedOut((reason) => {
  viewer = null;
  leaveCall();
  leaveDeal();
  leaveExperiment();
  header();
  signInView(reason);
});
document.getElementById("sign-out").addEventListener("click", () => signOut(null));
window.addEventListener("hashchange", () => {
  if (viewer) route();
});
start();
