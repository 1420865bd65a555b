// Accounts -> deals -> calls, and the forms that add to them (an account, a deal, a call pasted or read
// from a file); a deal also shows its MEDDPICC across its calls.
import { gql, saved } from "./api.js";
import { h, show, when, words } from "./dom.js";
import { dealRoom, ROOM_FIELDS } from "./dealroom.js";
import { report } from "./problem.js";
import { QUALIFICATION_FIELDS, qualificationTable } from "./qualification.js";

const ACCOUNTS = `query Accounts { accounts(first: 100) { totalCount edges { node { id name domain deals(first: 1) { totalCount } } } } }`;
const ACCOUNT = `query Account($id: ID!) {
  account(id: $id) { id name domain deals(first: 100) { edges { node { id name stage amount currency closeDate transcripts(first: 1) { totalCount } } } } }
}`;
const DEAL = `query Deal($id: ID!) {
  deal(id: $id) {
    account { id name }
    ${ROOM_FIELDS}
    transcripts(first: 100) { edges { node { id title occurredAt sourceFormat utteranceCount participants } } }
    ${QUALIFICATION_FIELDS}
  }
}`;
const CREATE_ACCOUNT = `mutation CreateAccount($input: CreateAccountInput!) { createAccount(input: $input) { account { id } errors { field message code } } }`;
const CREATE_DEAL = `mutation CreateDeal($input: CreateDealInput!) { createDeal(input: $input) { deal { id } errors { field message code } } }`;
const ADD_TRANSCRIPT = `mutation AddCall($input: AddTranscriptInput!) { addTranscript(input: $input) { transcript { id } errors { field message code } } }`;
const STAGES = ["PROSPECTING", "QUALIFICATION", "DISCOVERY", "PROPOSAL", "NEGOTIATION", "CLOSED_WON", "CLOSED_LOST"];

export function link(kind, id, ...label) {
  return h("a", { href: `#/${kind}/${encodeURIComponent(id)}` }, ...label);
}

function values(form) {
  const result = {};
  for (const [name, value] of new FormData(form).entries()) {
    if (typeof value === "string" && value.trim() !== "") result[name] = value.trim();
  }
  return result;
}

/** A form whose submission runs `action(values)`; a failure is shown and the form stays filled in. */
function form(attributes, action, ...fields) {
  const element = h("form", attributes, ...fields);
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = element.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await action(values(element), element);
    } catch (error) {
      report(error);
    } finally {
      button.disabled = false;
    }
  });
  return element;
}

export async function accountsView() {
  const { accounts } = await gql(ACCOUNTS);
  show(
    h("h1", {}, "Accounts ", h("span", { class: "muted" }, `(${accounts.totalCount})`)),
    accounts.edges.length
      ? h(
          "ul",
          { class: "list", id: "accounts" },
          accounts.edges.map(({ node }) =>
            h("li", {}, link("accounts", node.id, node.name), node.domain ? h("span", { class: "muted" }, node.domain) : null, h("span", { class: "meta" }, `${node.deals.totalCount} deal(s)`))
          )
        )
      : h("p", { class: "muted" }, "No accounts yet."),
    h("h2", {}, "New account"),
    form(
      { class: "inline", id: "new-account" },
      async (input) => {
        const account = saved((await gql(CREATE_ACCOUNT, { input })).createAccount, "account");
        location.hash = `#/accounts/${encodeURIComponent(account.id)}`;
      },
      h("input", { name: "name", placeholder: "Name", required: true }),
      h("input", { name: "domain", placeholder: "Domain (optional)" }),
      h("button", { type: "submit" }, "Create account")
    )
  );
}

function money(deal) {
  return deal.amount ? `${Number(deal.amount).toLocaleString()} ${deal.currency}` : "";
}

export async function accountView(id) {
  const { account } = await gql(ACCOUNT, { id });
  if (!account) throw new Error("No such account in your tenant.");
  show(
    h("div", { class: "crumbs" }, h("a", { href: "#/accounts" }, "Accounts")),
    h("h1", {}, account.name, account.domain ? h("span", { class: "muted" }, ` · ${account.domain}`) : null),
    h("h2", {}, "Deals"),
    account.deals.edges.length
      ? h(
          "ul",
          { class: "list", id: "deals" },
          account.deals.edges.map(({ node }) =>
            h("li", {}, link("deals", node.id, node.name), h("span", { class: "badge" }, words(node.stage)), h("span", { class: "meta" }, `${money(node)} · ${node.transcripts.totalCount} call(s)`))
          )
        )
      : h("p", { class: "muted" }, "No deals yet."),
    h("h2", {}, "New deal"),
    form(
      { class: "inline", id: "new-deal" },
      async (input) => {
        const deal = saved((await gql(CREATE_DEAL, { input: { ...input, accountId: account.id } })).createDeal, "deal");
        location.hash = `#/deals/${encodeURIComponent(deal.id)}`;
      },
      h("input", { name: "name", placeholder: "Name", required: true }),
      h("select", { name: "stage" }, STAGES.map((stage) => h("option", { value: stage }, words(stage)))),
      h("input", { name: "amount", placeholder: "Amount", inputmode: "decimal" }),
      h("input", { name: "currency", placeholder: "USD", size: 4 }),
      h("input", { name: "closeDate", type: "date" }),
      h("button", { type: "submit" }, "Create deal")
    )
  );
}

function addCallForm(dealId) {
  const content = h("textarea", { name: "content", placeholder: "Speaker: text, one line each — or WebVTT, SRT, JSON", required: true });
  const file = h("input", {
    type: "file",
    accept: ".txt,.vtt,.srt,.json,text/plain",
    onchange: async () => {
      const [chosen] = file.files;
      if (!chosen) return;
      content.value = await chosen.text();
      const title = addCall.querySelector("input[name=title]");
      if (!title.value) title.value = chosen.name.replace(/\.[^.]+$/, "");
    },
  });
  const addCall = form(
    { class: "stacked", id: "add-call" },
    async (input) => {
      if (input.occurredAt) input.occurredAt = new Date(input.occurredAt).toISOString();
      const transcript = saved((await gql(ADD_TRANSCRIPT, { input: { ...input, dealId } })).addTranscript, "transcript");
      location.hash = `#/calls/${encodeURIComponent(transcript.id)}`;
    },
    h("label", {}, "Title", h("input", { name: "title", required: true })),
    h("label", {}, "When", h("input", { name: "occurredAt", type: "datetime-local" })),
    h("label", {}, "Transcript (paste, or read a file)", file, content),
    h("div", {}, h("button", { type: "submit" }, "Add call"))
  );
  return addCall;
}

export async function dealView(id) {
  const { deal } = await gql(DEAL, { id });
  if (!deal) throw new Error("No such deal in your tenant.");
  show(
    h("div", { class: "crumbs" }, h("a", { href: "#/accounts" }, "Accounts"), " / ", link("accounts", deal.account.id, deal.account.name)),
    h("h1", {}, deal.name),
    dealRoom(deal),
    h("h2", {}, "Calls"),
    deal.transcripts.edges.length
      ? h(
          "ul",
          { class: "list", id: "calls" },
          deal.transcripts.edges.map(({ node }) =>
            h("li", {}, link("calls", node.id, node.title), h("span", { class: "muted" }, node.participants.join(", ")), h("span", { class: "meta" }, `${when(node.occurredAt)} · ${node.utteranceCount} utterances`))
          )
        )
      : h("p", { class: "muted" }, "No calls yet."),
    h("h2", {}, "Qualification (MEDDPICC)"),
    qualificationTable(deal.qualification),
    h("h2", {}, "Add a call"),
    addCallForm(deal.id)
  );
}
