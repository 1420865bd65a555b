// The deal board: every deal with its health and warnings, worst first by default, filtered by health status.
import { gql } from "./api.js";
import { link } from "./browse.js";
import { healthBadge } from "./dealroom.js";
import { h, show, words } from "./dom.js";

const BOARD = `query DealBoard($order: DealOrder, $filter: DealFilter) {
  deals(first: 100, orderBy: $order, filter: $filter) {
    totalCount
    edges { node { id name stage account { name } health { status warnings { code severity } } qualification { score } } }
  }
}`;
const STATUSES = ["OFF_TRACK", "AT_RISK", "ON_TRACK", "UNKNOWN"];
const ORDERS = [
  ["HEALTH", "Health, worst first"],
  ["LAST_ACTIVITY", "Latest call"],
  ["CREATED_AT", "Newest"],
];

export async function boardView() {
  const order = h("select", { id: "board-order" }, ORDERS.map(([value, label]) => h("option", { value }, label)));
  const filter = h("select", { id: "board-health" }, h("option", { value: "" }, "Any health"), STATUSES.map((status) => h("option", { value: status }, words(status))));
  const slot = h("div");
  const load = async () => {
    const { deals } = await gql(BOARD, {
      order: { field: order.value, direction: "DESC" },
      filter: filter.value ? { health: [filter.value] } : null,
    });
    slot.replaceChildren(
      deals.edges.length
        ? h(
            "ul",
            { class: "list", id: "board" },
            deals.edges.map(({ node }) =>
              h(
                "li",
                { dataset: { health: node.health.status } },
                healthBadge(node.health.status),
                link("deals", node.id, node.name),
                h("span", { class: "muted" }, `${node.account.name} · ${words(node.stage)}`),
                h("span", { class: "meta warnings-count" }, `${node.health.warnings.length} warning(s)`)
              )
            )
          )
        : h("p", { class: "muted" }, "No deals match.")
    );
  };
  order.addEventListener("change", load);
  filter.addEventListener("change", load);
  await load();
  show(h("h1", {}, "Deals"), h("div", { class: "toolbar" }, h("label", {}, "Order ", order), h("label", {}, "Health ", filter)), slot);
}
