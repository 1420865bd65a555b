// A deal's room: its health (each warning with the quotes it rests on, opening the call at that moment), its
// stage history and the CRM updates its calls proposed, each decided here by a person (accept, accept with
// an edited value, reject with a reason). The room follows `dealEvents` live and redraws from the API.
import { gql, saved, subscribe } from "./api.js";
import { h, percent, when, words } from "./dom.js";
import { report } from "./problem.js";
import { quoteLinks } from "./quotes.js";

const VALUE = `__typename ... on DateValue { date } ... on AmountValue { amount } ... on TextValue { text } ... on StageValue { stage } ... on EmailDraft { subject body }`;
const QUOTE = "quote verified utteranceIndex speaker";
export const ROOM_FIELDS = `
  id name stage amount currency closeDate nextStep
  stageHistory { fromStage toStage changedAt changedBy { email } }
  health {
    status pending computedAt
    warnings { code severity message since evidence { calls { id title } quotes { ${QUOTE} transcript { id } } } }
  }
  proposals(first: 50) {
    edges { node {
      id field status confidence createdAt reason
      proposed { ${VALUE} } current { ${VALUE} } decidedValue { ${VALUE} }
      evidence { ${QUOTE} } transcript { id title } recipients { name }
    } }
  }`;
const ROOM = `query DealRoom($id: ID!) { deal(id: $id) { ${ROOM_FIELDS} } }`;
const DEAL_EVENTS = `subscription DealEvents($deal: ID!) { dealEvents(dealId: $deal) { __typename dealId } }`;
const DECIDED = "proposal { id status } errors { field message code }";
const ACCEPT = `mutation Accept($id: ID!, $value: ProposalValueInput) { acceptProposal(id: $id, value: $value) { ${DECIDED} } }`;
const REJECT = `mutation Reject($id: ID!, $reason: String) { rejectProposal(id: $id, reason: $reason) { ${DECIDED} } }`;
const STAGES = ["PROSPECTING", "QUALIFICATION", "DISCOVERY", "PROPOSAL", "NEGOTIATION", "CLOSED_WON", "CLOSED_LOST"];
const FIELD_NAMES = { CLOSE_DATE: "Close date", AMOUNT: "Amount", NEXT_STEP: "Next step", STAGE: "Stage", FOLLOW_UP_EMAIL: "Follow-up email" };

let stopFollowing = () => {};

export function healthBadge(status) {
  return h("span", { class: `badge health ${status}`, dataset: { health: status } }, words(status));
}

function healthSection(health) {
  return h(
    "section",
    { id: "health" },
    h("h2", {}, "Health ", healthBadge(health.status), health.pending ? h("span", { class: "muted" }, " (recomputing…)") : null),
    health.computedAt ? null : h("p", { class: "muted" }, "Not computed yet."),
    health.status === "UNKNOWN" && health.computedAt ? h("p", { class: "muted" }, "No call of this deal has been analysed yet.") : null,
    health.warnings.length
      ? h(
          "ul",
          { class: "list warnings" },
          health.warnings.map((warning) =>
            h(
              "li",
              { class: "warning", dataset: { code: warning.code } },
              h(
                "div",
                {},
                h("span", { class: `badge ${warning.severity}` }, words(warning.severity)),
                " ",
                h("span", { class: "message" }, warning.message),
                h("div", { class: "muted" }, `${words(warning.code)} · since ${when(warning.since)}`),
                quoteLinks(warning.evidence.quotes, (quote) => quote.transcript && quote.transcript.id)
              )
            )
          )
        )
      : null
  );
}

function stageHistorySection(history) {
  return h(
    "section",
    { id: "stage-history" },
    h("h2", {}, "Stage history"),
    h(
      "table",
      {},
      h("tr", {}, h("th", {}, "Stage"), h("th", {}, "From"), h("th", {}, "When"), h("th", {}, "By")),
      history.map((change) =>
        h("tr", {}, h("td", {}, words(change.toStage)), h("td", {}, change.fromStage ? words(change.fromStage) : "created"), h("td", {}, when(change.changedAt)), h("td", {}, change.changedBy ? change.changedBy.email : ""))
      )
    )
  );
}

function valueText(value) {
  if (!value) return "not set";
  switch (value.__typename) {
    case "DateValue":
      return value.date;
    case "AmountValue":
      return Number(value.amount).toLocaleString();
    case "TextValue":
      return value.text;
    case "StageValue":
      return words(value.stage);
    case "EmailDraft":
      return `${value.subject}\n\n${value.body}`;
    default:
      return "";
  }
}

/** The inputs for a person's own value of the proposal's field, filled with the proposed one. */
function editInputs(proposal) {
  const value = proposal.proposed;
  switch (proposal.field) {
    case "CLOSE_DATE":
      return [h("input", { name: "closeDate", type: "date", value: value.date, required: true })];
    case "AMOUNT":
      return [h("input", { name: "amount", inputmode: "decimal", value: value.amount, required: true })];
    case "NEXT_STEP":
      return [h("input", { name: "nextStep", value: value.text, size: 50, required: true })];
    case "STAGE":
      return [h("select", { name: "stage" }, STAGES.map((stage) => h("option", { value: stage, selected: stage === value.stage }, words(stage))))];
    default:
      return [h("input", { name: "subject", value: value.subject, required: true }), h("textarea", { name: "body", required: true }, value.body)];
  }
}

function editedValue(proposal, form) {
  const data = Object.fromEntries(new FormData(form).entries());
  if (proposal.field === "FOLLOW_UP_EMAIL") return { followUpEmail: { subject: data.subject, body: data.body } };
  const [name] = Object.keys(data);
  return { [name]: data[name].trim() };
}

function proposalCard(proposal, redraw) {
  const decide = async (mutation, variables, payloadField) => {
    for (const button of card.querySelectorAll("button")) button.disabled = true;
    try {
      saved((await gql(mutation, variables))[payloadField], "proposal");
      await redraw();
    } catch (error) {
      report(error);
      for (const button of card.querySelectorAll("button")) button.disabled = false;
      await redraw().catch(() => {}); // e.g. after a CONFLICT, the person decides with the deal's new value in view
    }
  };
  const editForm = h("form", { class: "inline edit", hidden: true }, editInputs(proposal), h("button", { type: "submit" }, "Accept this value"));
  editForm.addEventListener("submit", (event) => {
    event.preventDefault();
    decide(ACCEPT, { id: proposal.id, value: editedValue(proposal, editForm) }, "acceptProposal");
  });
  const reason = h("input", { name: "reason", placeholder: "Why (optional)", size: 40 });
  const rejectForm = h("form", { class: "inline reject", hidden: true }, reason, h("button", { type: "submit" }, "Reject"));
  rejectForm.addEventListener("submit", (event) => {
    event.preventDefault();
    decide(REJECT, { id: proposal.id, reason: reason.value.trim() || null }, "rejectProposal");
  });
  const open = proposal.status === "SUGGESTED";
  const card = h(
    "section",
    { class: "card proposal", dataset: { id: proposal.id, field: proposal.field, status: proposal.status } },
    h(
      "header",
      {},
      h("h2", {}, FIELD_NAMES[proposal.field]),
      h("span", { class: "state" }, words(proposal.status)),
      h("span", { class: "confidence", title: "confidence" }, percent(proposal.confidence)),
      h("span", { class: "detail" }, proposal.transcript ? link(proposal.transcript) : null)
    ),
    h("div", { class: "values" }, h("span", { class: "muted" }, "proposed "), h("span", { class: "proposed" }, valueText(proposal.proposed)), proposal.field === "FOLLOW_UP_EMAIL" ? null : [h("span", { class: "muted" }, " · was "), h("span", { class: "current" }, valueText(proposal.current))]),
    proposal.decidedValue && proposal.status === "EDITED" ? h("div", { class: "muted" }, `applied: ${valueText(proposal.decidedValue)}`) : null,
    proposal.reason ? h("div", { class: "muted" }, `reason: ${proposal.reason}`) : null,
    proposal.recipients.length ? h("div", { class: "muted" }, `to ${proposal.recipients.map((person) => person.name).join(", ")}`) : null,
    quoteLinks(proposal.evidence, () => proposal.transcript && proposal.transcript.id),
    open
      ? h(
          "div",
          { class: "toolbar" },
          h("button", { type: "button", class: "accept", onclick: () => decide(ACCEPT, { id: proposal.id, value: null }, "acceptProposal") }, "Accept"),
          h("button", { type: "button", class: "secondary edit", onclick: () => (editForm.hidden = !editForm.hidden) }, "Edit"),
          h("button", { type: "button", class: "secondary reject", onclick: () => (rejectForm.hidden = !rejectForm.hidden) }, "Reject…")
        )
      : null,
    open ? [editForm, rejectForm] : null
  );
  return card;
}

function link(transcript) {
  return h("a", { href: `#/calls/${encodeURIComponent(transcript.id)}` }, transcript.title);
}

/** The cards of open proposals whose edit or reject form is open: a redraw keeps them as the person left them. */
function cardsInUse(slot) {
  const kept = new Map();
  for (const card of slot.querySelectorAll(".card.proposal[data-status=SUGGESTED]")) {
    if ([...card.querySelectorAll("form")].some((form) => !form.hidden)) kept.set(card.dataset.id, card);
  }
  return kept;
}

function proposalsSection(proposals, redraw, kept) {
  const nodes = proposals.edges.map((edge) => edge.node);
  const waiting = nodes.filter((proposal) => proposal.status === "SUGGESTED").length;
  return h(
    "section",
    { id: "proposals" },
    h("h2", {}, "Proposed CRM updates ", h("span", { class: "muted" }, `(${waiting} to decide)`)),
    nodes.length ? h("div", { class: "cards" }, nodes.map((proposal) => (proposal.status === "SUGGESTED" && kept.get(proposal.id)) || proposalCard(proposal, redraw))) : h("p", { class: "muted" }, "No proposals: an analysed call proposes updates to this deal.")
  );
}

function money(deal) {
  return deal.amount ? `${Number(deal.amount).toLocaleString()} ${deal.currency}` : "no amount";
}

/** The room's parts for `deal`, drawn into `slot`; `redraw` reads the deal again. */
function draw(slot, deal, redraw) {
  const kept = cardsInUse(slot);
  slot.replaceChildren(
    h(
      "dl",
      { class: "facts", id: "deal-fields" },
      h("dt", {}, "Stage"),
      h("dd", { dataset: { field: "stage" } }, words(deal.stage)),
      h("dt", {}, "Amount"),
      h("dd", { dataset: { field: "amount" } }, money(deal)),
      h("dt", {}, "Close date"),
      h("dd", { dataset: { field: "closeDate" } }, deal.closeDate || "not set"),
      h("dt", {}, "Next step"),
      h("dd", { dataset: { field: "nextStep" } }, deal.nextStep || "not set")
    ),
    healthSection(deal.health),
    proposalsSection(deal.proposals, redraw, kept),
    stageHistorySection(deal.stageHistory)
  );
}

/** The room of a deal already read with ROOM_FIELDS, kept current by `dealEvents` while the page shows it. */
export function dealRoom(deal) {
  stopFollowing();
  const slot = h("div", { id: "deal-room" });
  const redraw = async () => {
    const fresh = (await gql(ROOM, { id: deal.id })).deal;
    if (fresh && slot.isConnected) draw(slot, fresh, redraw);
  };
  draw(slot, deal, redraw);
  stopFollowing = subscribe(DEAL_EVENTS, { deal: deal.id }, { next: () => redraw().catch(report), error: report });
  return slot;
}

export function leaveDeal() {
  stopFollowing();
  stopFollowing = () => {};
}
