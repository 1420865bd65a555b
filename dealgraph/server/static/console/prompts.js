// For admins: the prompt templates, their versions and labels; a new version (of a built-in template: the
// tenant's own template overriding it), a diff between two versions, moving a label to a version, rolling a
// label back, and a version rendered for one call as the agent would send it.
import { gql, saved } from "./api.js";
import { h, show, when, words } from "./dom.js";
import { report } from "./problem.js";

const TEMPLATES = `query Templates { promptTemplates(first: 20) { edges { node { id agent name description isBuiltin labels { name version { version } } versions(first: 1) { totalCount } } } } }`;
const TEMPLATE = `query Template($id: ID!) {
  promptTemplate(id: $id) {
    id agent name description isBuiltin
    labels { name updatedAt version { id version } updatedBy { email } }
    versions(first: 100) { edges { node { id version model effort maxTokens note createdAt author { email } systemText userTemplate } } }
  }
  transcripts(first: 50) { edges { node { id title } } }
}`;
const DIFF = `query Diff($id: ID!, $from: ID!, $to: ID!) { promptTemplate(id: $id) { diff(fromVersionId: $from, toVersionId: $to) } }`;
const RENDER = `query Render($version: ID!, $transcript: ID!) { renderPrompt(versionId: $version, transcriptId: $transcript) { model system user inputTokens simulated } }`;
const SET_LABEL = `mutation SetLabel($template: ID!, $label: String!, $version: ID!) {
  setPromptLabel(templateId: $template, label: $label, versionId: $version) { label { name } errors { field message code } }
}`;
const CREATE_VERSION = `mutation NewVersion($input: PromptVersionInput!) {
  createPromptVersion(input: $input) { promptVersion { template { id } } errors { field message code } }
}`;
const ROLLBACK = `mutation Rollback($template: ID!, $label: String!) {
  rollbackPrompt(templateId: $template, label: $label) { label { name version { version } } errors { field message code } }
}`;

export async function promptsView() {
  const { promptTemplates } = await gql(TEMPLATES);
  show(
    h("h1", {}, "Prompt templates"),
    h(
      "table",
      { id: "templates" },
      h("tr", {}, h("th", {}, "Template"), h("th", {}, "Agent"), h("th", {}, "Versions"), h("th", {}, "Labels")),
      promptTemplates.edges.map(({ node }) =>
        h(
          "tr",
          {},
          h("td", {}, h("a", { href: `#/prompts/${encodeURIComponent(node.id)}` }, node.name), node.isBuiltin ? h("span", { class: "badge" }, "built in") : null, h("div", { class: "muted" }, node.description)),
          h("td", {}, words(node.agent)),
          h("td", {}, node.versions.totalCount),
          h("td", { class: "chips" }, node.labels.map((label) => h("span", {}, `${label.name} → v${label.version.version}`)))
        )
      )
    )
  );
}

function versionSelect(versions, name, chosen) {
  return h("select", { name }, versions.map((version) => h("option", { value: version.id, selected: version.id === chosen }, `v${version.version}`)));
}

function diffLines(text) {
  if (!text) return h("div", { class: "diff", id: "diff" }, "The two versions are the same.");
  return h(
    "div",
    { class: "diff", id: "diff" },
    text.split("\n").map((line) => {
      const kind = line.startsWith("@@") ? "hunk" : line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : null;
      return h("span", { class: kind }, `${line}\n`);
    })
  );
}

async function act(action, reload) {
  try {
    await action();
    await reload();
  } catch (error) {
    report(error);
  }
}

/** A new version, starting from the newest one's text; saved as the tenant's own template when this one is built in. */
function newVersionForm(template, newest, reload) {
  const system = h("textarea", { name: "systemText", required: true }, newest ? newest.systemText : "");
  const user = h("textarea", { name: "userTemplate", required: true }, newest ? newest.userTemplate : "");
  const note = h("input", { name: "note", placeholder: "what changed", size: 40 });
  const owner = template.isBuiltin ? { agent: template.agent } : { templateId: template.id };
  const element = h(
    "form",
    { class: "stacked", id: "new-version" },
    template.isBuiltin ? h("p", { class: "muted" }, "Built-in templates are read-only: saving makes your tenant's own template for this agent.") : null,
    h("label", {}, "System prompt", system),
    h("label", {}, "User message template", user),
    h("label", {}, "Note", note),
    h("div", {}, h("button", { type: "submit" }, "Save new version"))
  );
  element.addEventListener("submit", (event) => {
    event.preventDefault();
    const input = { ...owner, systemText: system.value, userTemplate: user.value, note: note.value || null };
    gql(CREATE_VERSION, { input })
      .then((answer) => {
        const version = saved(answer.createPromptVersion, "promptVersion");
        if (version.template.id === template.id) return reload();
        location.hash = `#/prompts/${encodeURIComponent(version.template.id)}`;
        return null;
      })
      .catch(report);
  });
  return element;
}

export async function templateView(id) {
  const { promptTemplate: template, transcripts } = await gql(TEMPLATE, { id });
  if (!template) throw new Error("No such prompt template.");
  const versions = template.versions.edges.map((edge) => edge.node);
  const reload = () => templateView(id);
  const newest = versions[0] ? versions[0].id : null;
  const oldest = versions.length ? versions[versions.length - 1].id : null;

  const diffOut = h("div");
  const from = versionSelect(versions, "from", oldest);
  const to = versionSelect(versions, "to", newest);
  const showDiff = async () => {
    try {
      const answer = await gql(DIFF, { id, from: from.value, to: to.value });
      diffOut.replaceChildren(diffLines(answer.promptTemplate.diff));
    } catch (error) {
      report(error);
    }
  };

  const previewOut = h("div");
  const previewVersion = versionSelect(versions, "version", newest);
  const previewCall = h("select", { name: "transcript" }, transcripts.edges.map(({ node }) => h("option", { value: node.id }, node.title)));
  const preview = async () => {
    try {
      const { renderPrompt } = await gql(RENDER, { version: previewVersion.value, transcript: previewCall.value });
      previewOut.replaceChildren(
        h("p", { class: "muted" }, `${renderPrompt.model} · ${renderPrompt.inputTokens} input tokens${renderPrompt.simulated ? " (simulated count)" : ""}`),
        h("h3", {}, "System"),
        h("pre", { class: "prompt", id: "preview-system" }, renderPrompt.system),
        h("h3", {}, "User"),
        h("pre", { class: "prompt" }, renderPrompt.user)
      );
    } catch (error) {
      report(error);
    }
  };

  const labelName = h("input", { name: "label", placeholder: "label, e.g. production", required: true });
  const labelVersion = versionSelect(versions, "version", newest);
  const setLabel = h(
    "form",
    { class: "inline", id: "set-label", onsubmit: (event) => {
      event.preventDefault();
      act(async () => saved((await gql(SET_LABEL, { template: id, label: labelName.value, version: labelVersion.value })).setPromptLabel, "label"), reload);
    } },
    "Point ",
    labelName,
    " at ",
    labelVersion,
    h("button", { type: "submit" }, "Set label")
  );

  show(
    h("div", { class: "crumbs" }, h("a", { href: "#/prompts" }, "Prompt templates")),
    h("h1", {}, template.name, h("span", { class: "muted" }, ` · ${words(template.agent)}`)),
    h("p", { class: "muted" }, template.description),
    h("h2", {}, "Labels"),
    h(
      "table",
      { id: "labels" },
      h("tr", {}, h("th", {}, "Label"), h("th", {}, "Version"), h("th", {}, "Moved"), h("th", {}, "")),
      template.labels.map((label) =>
        h(
          "tr",
          {},
          h("td", {}, label.name),
          h("td", {}, `v${label.version.version}`),
          h("td", { class: "muted" }, `${when(label.updatedAt)}${label.updatedBy ? ` by ${label.updatedBy.email}` : ""}`),
          h("td", {}, h("button", { type: "button", class: "secondary", onclick: () => act(async () => saved((await gql(ROLLBACK, { template: id, label: label.name })).rollbackPrompt, "label"), reload) }, "Roll back"))
        )
      )
    ),
    setLabel,
    h("h2", {}, "Versions"),
    h(
      "table",
      { id: "versions" },
      h("tr", {}, h("th", {}, "Version"), h("th", {}, "Model"), h("th", {}, "Effort"), h("th", {}, "Max tokens"), h("th", {}, "Note"), h("th", {}, "Saved")),
      versions.map((version) =>
        h("tr", {}, h("td", {}, `v${version.version}`), h("td", {}, version.model), h("td", {}, version.effort ? words(version.effort) : "—"), h("td", {}, version.maxTokens), h("td", {}, version.note || ""), h("td", { class: "muted" }, `${when(version.createdAt)}${version.author ? ` by ${version.author.email}` : ""}`))
      )
    ),
    h("h2", {}, "Diff"),
    h("div", { class: "inline toolbar" }, "From ", from, " to ", to, h("button", { type: "button", id: "show-diff", onclick: showDiff }, "Show diff")),
    diffOut,
    h("h2", {}, "Rendered preview"),
    transcripts.edges.length
      ? h("div", { class: "inline toolbar" }, previewVersion, " for the call ", previewCall, h("button", { type: "button", id: "preview", onclick: preview }, "Render"))
      : h("p", { class: "muted" }, "Add a call to preview a version against it."),
    previewOut,
    h("h2", {}, "New version"),
    newVersionForm(template, versions[0], reload)
  );
}
