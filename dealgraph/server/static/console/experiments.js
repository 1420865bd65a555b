// For admins: prompt experiments. The list, a dataset made of picked calls, an experiment started only after
// its estimate is shown, and one experiment's page: live progress, the summary per score, each call's answers
// compared field by field (regressed calls first, as the API orders them) with the pairwise judge's verdict
// when it was asked, Cancel and Promote.
import { gql, saved, subscribe } from "./api.js";
import { h, percent, show, when, words } from "./dom.js";
import { report } from "./problem.js";
import { quoteLinks } from "./quotes.js";

const AGENTS = ["MEETING_INTELLIGENCE", "ACTION_ITEMS", "STAKEHOLDERS", "MEDDPICC"];
// Each experiment's request states would put the list over the server's query cost limit: they are read
// one experiment at a time, for those still running.
const LIST = `query Experiments { experiments { id status mode baseline candidate datasetVersion createdAt dataset { name } } }`;
const STATES = `query States($id: ID!) { experiment(id: $id) { requestStates { state count } } }`;
const CHOICES = `query Choices { datasets { id name latestVersion } transcripts(first: 50) { edges { node { id title } } } }`;
const CREATE_DATASET = `mutation Dataset($name: String!, $transcripts: [ID!]!) {
  createDataset(input: {name: $name, selection: {transcriptIds: $transcripts}}) { dataset { id } errors { field message code } }
}`;
// With the baseline and the judge, the estimate is the very one startExperiment checks against the budget.
const ESTIMATE = `query Estimate($dataset: ID!, $label: String!, $agents: [AgentKind!], $baseline: PromptPickInput!, $pairwise: Boolean!) {
  experimentEstimate(datasetId: $dataset, promptLabel: $label, agents: $agents, baseline: $baseline, pairwise: $pairwise) {
    requests inputTokens maxOutputTokens liveCostUsd batchCostUsd judgeRequests judgeCostUsd simulated
  }
}`;
const START = `mutation Start($input: StartExperimentInput!) {
  startExperiment(input: $input) { experiment { id } errors { field message code } }
}`;
const SIDE = "requests succeeded schemaFailures truncatedOrRefused otherFailures evidenceRate correctionAgreement actionItems stakeholders risks outputTokens costUsd meanLatencyMs";
const EXPERIMENT = `query Experiment($id: ID!) {
  experiment(id: $id) {
    id status mode baseline candidate agents datasetVersion budgetUsd estimatedCostUsd errorMessage createdAt promotedAt
    dataset { name } requestStates { state count } pairwiseJudgeVersion { version }
    summary {
      baseline { ${SIDE} } candidate { ${SIDE} } scores { score improved regressed unchanged } fieldsCompared fieldsAgreeing
      pairwise { candidateWins baselineWins ties unjudged costUsd }
    }
    calls {
      agent regressed fieldsCompared fieldsAgreeing transcript { id title }
      verdicts { score verdict } diff { field baseline candidate expected }
      baseline { state errorCode } candidate { state errorCode }
      judgment { state errorMessage winner reason confidence evidence { quote verified utteranceIndex speaker } }
    }
  }
}`;
const EVENTS = `subscription Progress($id: ID!) { experimentEvents(experimentId: $id) { status answered total requestStates { state count } } }`;
const CANCEL = `mutation Cancel($id: ID!) { cancelExperiment(id: $id) { experiment { id } errors { field message code } } }`;
const PROMOTE = `mutation Promote($id: ID!, $force: Boolean!) { promoteExperiment(id: $id, force: $force) { experiment { id } errors { field message code } } }`;
const ENDED = new Set(["SUCCEEDED", "FAILED", "CANCELED"]);

let stopWatching = () => {};

export function leaveExperiment() {
  stopWatching();
  stopWatching = () => {};
}

function progress(states) {
  const total = states.reduce((sum, item) => sum + item.count, 0);
  const pending = states.filter((item) => item.state === "PENDING").reduce((sum, item) => sum + item.count, 0);
  return `${total - pending} of ${total}`;
}

function money(value) {
  return value === null || value === undefined ? "—" : `$${value.toFixed(4)}`;
}

function checkbox(name, value, label, checked = false) {
  return h("label", { class: "check" }, h("input", { type: "checkbox", name, value, checked }), ` ${label}`);
}

function checked(form, name) {
  return [...form.querySelectorAll(`input[name=${name}]:checked`)].map((input) => input.value);
}

function datasetForm(transcripts) {
  const name = h("input", { name: "name", placeholder: "dataset name", required: true });
  const form = h(
    "form",
    { class: "stacked", id: "new-dataset" },
    h("div", { class: "chips" }, transcripts.map(({ node }) => checkbox("transcript", node.id, node.title))),
    h("label", {}, "Name", name),
    h("div", {}, h("button", { type: "submit" }, "Create dataset"))
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    gql(CREATE_DATASET, { name: name.value, transcripts: checked(form, "transcript") })
      .then((answer) => saved(answer.createDataset, "dataset"))
      .then(() => experimentsView())
      .catch(report);
  });
  return form;
}

/** Start: the estimate first (the most it can cost, live and batched), then the experiment with its budget. */
function startForm(datasets) {
  const dataset = h("select", { name: "dataset" }, datasets.map((item) => h("option", { value: item.id }, `${item.name} (v${item.latestVersion})`)));
  const baseline = h("input", { name: "baseline", value: "production", required: true });
  const candidate = h("input", { name: "candidate", placeholder: "label, e.g. candidate", required: true });
  const mode = h("select", { name: "mode" }, h("option", { value: "BATCH" }, "batch (half price, within 24 h)"), h("option", { value: "LIVE" }, "live"));
  const budget = h("input", { name: "budget", type: "number", min: "0", step: "any", placeholder: "server default" });
  const pairwise = h("input", { type: "checkbox", name: "pairwise" });
  const estimate = h("div", { id: "estimate" });
  const start = h("button", { type: "submit", id: "start-experiment", disabled: true }, "Start experiment");
  const form = h(
    "form",
    { class: "stacked", id: "new-experiment" },
    h("label", {}, "Dataset", dataset),
    h("div", { class: "chips" }, AGENTS.map((agent) => checkbox("agent", agent, words(agent)))),
    h("label", {}, "Baseline label", baseline),
    h("label", {}, "Candidate label", candidate),
    h("label", {}, "Mode", mode),
    h("label", { class: "check" }, pairwise, " pairwise judge: its production prompt says which answer is better on each call (sent live)"),
    h("label", {}, "Budget (USD)", budget),
    h("div", { class: "toolbar" }, h("button", { type: "button", class: "secondary", id: "estimate-experiment", onclick: () => showEstimate() }, "Estimate"), start),
    estimate
  );
  const agents = () => (checked(form, "agent").length ? checked(form, "agent") : AGENTS);
  const showEstimate = async () => {
    try {
      const asked = { dataset: dataset.value, label: candidate.value, agents: agents(), baseline: { label: baseline.value }, pairwise: pairwise.checked };
      const { experimentEstimate: cost } = await gql(ESTIMATE, asked);
      const judged = cost.judgeRequests ? ` (${cost.judgeRequests} of them the pairwise judge's, ${money(cost.judgeCostUsd)} at the live price in both)` : "";
      estimate.replaceChildren(
        h("p", {}, `${cost.requests} requests${judged}, ${cost.inputTokens} input tokens, at most ${cost.maxOutputTokens} output tokens: at most ${money(cost.liveCostUsd)} live, ${money(cost.batchCostUsd)} batched${cost.simulated ? " (simulated count)" : ""}.`)
      );
      start.disabled = false;
    } catch (error) {
      report(error);
    }
  };
  form.addEventListener("change", (event) => {
    if (event.target === budget) return;
    start.disabled = true; // what was estimated changed: estimate again
    estimate.replaceChildren();
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = {
      datasetId: dataset.value,
      agents: agents(),
      baseline: { label: baseline.value },
      candidate: { label: candidate.value },
      mode: mode.value,
      pairwise: pairwise.checked,
      budgetUsd: budget.value === "" ? null : Number(budget.value),
    };
    gql(START, { input })
      .then((answer) => {
        location.hash = `#/experiments/${encodeURIComponent(saved(answer.startExperiment, "experiment").id)}`;
      })
      .catch(report);
  });
  return form;
}

export async function experimentsView() {
  const [{ experiments }, { datasets, transcripts }] = await Promise.all([gql(LIST), gql(CHOICES)]);
  const running = experiments.filter((item) => !ENDED.has(item.status));
  const states = await Promise.all(running.map((item) => gql(STATES, { id: item.id })));
  const answered = new Map(running.map((item, index) => [item.id, progress(states[index].experiment.requestStates)]));
  show(
    h("h1", {}, "Prompt experiments"),
    experiments.length
      ? h(
          "table",
          { id: "experiments" },
          h("tr", {}, h("th", {}, "Started"), h("th", {}, "Status"), h("th", {}, "Mode"), h("th", {}, "Dataset"), h("th", {}, "Baseline → candidate"), h("th", {}, "Answered")),
          experiments.map((item) =>
            h(
              "tr",
              { dataset: { status: item.status } },
              h("td", {}, h("a", { href: `#/experiments/${encodeURIComponent(item.id)}` }, when(item.createdAt))),
              h("td", {}, words(item.status)),
              h("td", {}, words(item.mode)),
              h("td", {}, item.dataset ? `${item.dataset.name} v${item.datasetVersion}` : `v${item.datasetVersion}`),
              h("td", {}, `${item.baseline} → ${item.candidate}`),
              h("td", {}, answered.get(item.id) || "ended")
            )
          )
        )
      : h("p", { class: "muted" }, "No experiment yet."),
    h("h2", {}, "New dataset"),
    transcripts.edges.length ? datasetForm(transcripts.edges) : h("p", { class: "muted" }, "Add a call first."),
    h("h2", {}, "New experiment"),
    datasets.length ? startForm(datasets) : h("p", { class: "muted" }, "Create a dataset first.")
  );
}

function summaryTable(summary) {
  const rows = Object.keys(summary.baseline).map((key) =>
    h("tr", {}, h("td", {}, key.replace(/([A-Z])/g, " $1").toLowerCase()), h("td", {}, String(summary.baseline[key] ?? "—")), h("td", {}, String(summary.candidate[key] ?? "—")))
  );
  return [
    h(
      "table",
      { id: "scores" },
      h("tr", {}, h("th", {}, "Score"), h("th", {}, "Improved"), h("th", {}, "Regressed"), h("th", {}, "Unchanged")),
      summary.scores.map((item) => h("tr", { dataset: { score: item.score } }, h("td", {}, words(item.score)), h("td", {}, item.improved), h("td", { class: item.regressed ? "error" : null }, item.regressed), h("td", {}, item.unchanged)))
    ),
    h("p", { class: "muted" }, `The candidate answered ${summary.fieldsAgreeing} of ${summary.fieldsCompared} fields as the baseline did.`),
    summary.pairwise ? pairwiseTable(summary.pairwise) : null,
    h("table", { id: "sides" }, h("tr", {}, h("th", {}, ""), h("th", {}, "Baseline"), h("th", {}, "Candidate")), rows),
  ];
}

/** The pairwise judge's verdicts over every call and agent. */
function pairwiseTable(counts) {
  const cells = [["candidate-wins", counts.candidateWins], ["baseline-wins", counts.baselineWins], ["ties", counts.ties], ["unjudged", counts.unjudged]];
  return h(
    "table",
    { id: "pairwise" },
    h("tr", {}, h("th", {}, "Pairwise judge"), h("th", {}, "Candidate better"), h("th", {}, "Baseline better"), h("th", {}, "Tie"), h("th", {}, "Not judged"), h("th", {}, "Judge's cost")),
    h("tr", {}, h("td", {}, "calls"), cells.map(([name, count]) => h("td", { dataset: { count: name } }, count)), h("td", {}, money(counts.costUsd)))
  );
}

function verdict({ state, winner, errorMessage }) {
  if (winner === null) return `${words(state)}${errorMessage ? `: ${errorMessage}` : ""}`; // skipped, failed, ...
  return winner === "TIE" ? "a tie" : `the ${words(winner)} is better`;
}

/** The judge's verdict on one call: the better side (it saw them as A and B), why, how sure, and its quotes. */
function judgmentBlock(judgment, call) {
  if (!judgment) return null;
  const { state, winner } = judgment;
  return h(
    "div",
    { class: "judgment", dataset: winner ? { state, winner } : { state } },
    h("p", {}, h("strong", {}, "Pairwise judge: "), verdict(judgment), judgment.confidence === null ? null : [" ", h("span", { class: "confidence" }, `confidence ${percent(judgment.confidence)}`)]),
    judgment.reason ? h("p", { class: "reason" }, judgment.reason) : null,
    quoteLinks(judgment.evidence, () => call)
  );
}

function answerState(answer) {
  if (!answer) return "—";
  return `${words(answer.state)}${answer.errorCode ? ` (${answer.errorCode})` : ""}`;
}

function callCard(call) {
  return h(
    "div",
    { class: "card call-diff", dataset: { agent: call.agent, regressed: String(call.regressed) } },
    h(
      "header",
      {},
      h("h2", {}, call.transcript ? h("a", { href: `#/calls/${encodeURIComponent(call.transcript.id)}` }, call.transcript.title) : "a deleted call", ` · ${words(call.agent)}`),
      call.regressed ? h("span", { class: "badge HIGH" }, "regressed") : null,
      h("span", { class: "detail" }, `${call.fieldsAgreeing} of ${call.fieldsCompared} fields agree · baseline ${answerState(call.baseline)} · candidate ${answerState(call.candidate)}`)
    ),
    h("div", { class: "chips" }, call.verdicts.map((item) => h("span", { class: `verdict ${item.verdict}` }, `${words(item.score)}: ${words(item.verdict)}`))),
    call.diff.length
      ? h(
          "table",
          { class: "fields" },
          h("tr", {}, h("th", {}, "Field"), h("th", {}, "Baseline"), h("th", {}, "Candidate"), h("th", {}, "Corrected")),
          call.diff.map((item) => h("tr", { dataset: { field: item.field } }, h("td", {}, item.field), h("td", {}, item.baseline ?? "—"), h("td", {}, item.candidate ?? "—"), h("td", {}, item.expected ?? "")))
        )
      : h("p", { class: "muted" }, "The two answers agree on every field compared."),
    judgmentBlock(call.judgment, call.transcript && call.transcript.id)
  );
}

async function promote(id, force, refusal) {
  try {
    saved((await gql(PROMOTE, { id, force })).promoteExperiment, "experiment");
    await experimentView(id);
  } catch (error) {
    if (error.code !== "CONFLICT" || force) {
      report(error);
      return;
    }
    refusal.replaceChildren(
      h("p", { class: "error" }, error.message),
      h("button", { type: "button", id: "force-promote", onclick: () => promote(id, true, refusal) }, "Promote anyway")
    );
    refusal.hidden = false;
  }
}

export async function experimentView(id) {
  const { experiment } = await gql(EXPERIMENT, { id });
  if (!experiment) throw new Error("No such experiment.");
  const status = h("span", { id: "experiment-status", dataset: { status: experiment.status } }, words(experiment.status));
  const answered = h("span", { id: "experiment-progress", class: "progress" }, progress(experiment.requestStates));
  const refusal = h("div", { id: "promote-refused", class: "card", hidden: true });
  const ended = ENDED.has(experiment.status);
  show(
    h("div", { class: "crumbs" }, h("a", { href: "#/experiments" }, "Prompt experiments")),
    h("h1", {}, `${experiment.baseline} → ${experiment.candidate}`, h("span", { class: "muted" }, ` · ${experiment.agents.map(words).join(", ")}`)),
    h(
      "dl",
      { class: "facts" },
      h("dt", {}, "Status"), h("dd", {}, status),
      h("dt", {}, "Answered"), h("dd", {}, answered),
      h("dt", {}, "Dataset"), h("dd", {}, `${experiment.dataset ? experiment.dataset.name : "deleted"} v${experiment.datasetVersion}`),
      h("dt", {}, "Mode"), h("dd", {}, words(experiment.mode)),
      h("dt", {}, "Cost"), h("dd", {}, `at most ${money(experiment.estimatedCostUsd)} of a ${money(experiment.budgetUsd)} budget`),
      h("dt", {}, "Pairwise judge"), h("dd", { id: "pairwise-judge" }, experiment.pairwiseJudgeVersion ? `version ${experiment.pairwiseJudgeVersion.version}` : "no"),
      h("dt", {}, "Promoted"), h("dd", { id: "promoted" }, experiment.promotedAt ? when(experiment.promotedAt) : "no")
    ),
    experiment.errorMessage ? h("p", { class: "error" }, experiment.errorMessage) : null,
    h(
      "div",
      { class: "toolbar" },
      ended ? null : h("button", { type: "button", class: "secondary", id: "cancel-experiment", onclick: () => gql(CANCEL, { id }).then((answer) => saved(answer.cancelExperiment, "experiment")).catch(report) }, "Cancel"),
      ended && !experiment.promotedAt ? h("button", { type: "button", id: "promote", onclick: () => promote(id, false, refusal) }, "Promote to production") : null
    ),
    refusal,
    ended ? [h("h2", {}, "Summary"), summaryTable(experiment.summary), h("h2", {}, "Calls"), h("div", { class: "cards", id: "calls" }, experiment.calls.map(callCard))] : null
  );
  if (ended) return;
  leaveExperiment();
  let watching = true; // unsubscribing completes the subscription too: only the server's end reloads the page
  const unsubscribe = subscribe(EVENTS, { id }, {
    next: ({ experimentEvents: event }) => {
      status.textContent = words(event.status);
      status.dataset.status = event.status;
      answered.textContent = `${event.answered} of ${event.total}`;
    },
    error: report,
    complete: () => {
      if (watching) experimentView(id).catch(report);
    },
  });
  stopWatching = () => {
    watching = false;
    unsubscribe();
  };
}
