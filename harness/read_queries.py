"""The read benchmark's GraphQL documents: the same data asked of dealgraph and of PostGraphile.

The deal-graph query is also what `tests/test_statement_count.py` pins the statement count of, so the
benchmark and the regression test always talk about the same request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

DEALS = 20
TRANSCRIPTS_PER_DEAL = 3

DEALGRAPH_DEAL_GRAPH = f"""query DealGraph {{
  deals(first: {DEALS}, orderBy: {{field: AMOUNT, direction: DESC}}) {{
    edges {{ node {{
      name amount
      account {{ name }}
      transcripts(first: {TRANSCRIPTS_PER_DEAL}) {{ edges {{ node {{ title occurredAt }} }} }}
    }} }}
  }}
}}"""

# Same rows and order: deals by amount (all seeded amounts are distinct), transcripts newest call first.
POSTGRAPHILE_DEAL_GRAPH = f"""query DealGraph {{
  allDeals(first: {DEALS}, orderBy: [AMOUNT_DESC, PRIMARY_KEY_DESC]) {{
    edges {{ node {{
      name amount
      accountByAccountId {{ name }}
      transcriptsByDealId(first: {TRANSCRIPTS_PER_DEAL}, orderBy: [OCCURRED_AT_DESC, PRIMARY_KEY_DESC]) {{
        edges {{ node {{ title occurredAt }} }}
      }}
    }} }}
  }}
}}"""

# The deal page with who was on each deal's calls, each call's conversation metrics and the deal's roll-up.
DEALGRAPH_DEAL_GRAPH_WITH_PEOPLE = f"""query DealGraphWithPeople {{
  deals(first: {DEALS}, orderBy: {{field: AMOUNT, direction: DESC}}) {{
    edges {{ node {{
      name amount
      account {{ name }}
      people {{ person {{ name }} side callsAttended talkShare stakeholderViews {{ stakeholder {{ committeeRole }} }} }}
      conversation {{ calls timing talkRatio longestMonologueSeconds longestCustomerStorySeconds patienceMeanSeconds }}
      transcripts(first: {TRANSCRIPTS_PER_DEAL}) {{ edges {{ node {{
        title occurredAt metrics {{ timing talkRatio longestMonologueSeconds interactivity }}
      }} }} }}
    }} }}
  }}
}}"""

BOARD_DEALS = 50

# The deal board: the 50 worst-off deals with their health, warnings, qualification score and next step.
DEALGRAPH_DEAL_BOARD = f"""query DealBoard {{
  deals(first: {BOARD_DEALS}, orderBy: {{field: HEALTH, direction: DESC}}) {{
    edges {{ node {{
      name stage amount
      account {{ name }}
      health {{ status warnings {{ code severity message since }} nextStep {{ description dueDate owner }} }}
      qualification {{ score }}
    }} }}
  }}
}}"""

DEALGRAPH_TRIVIAL = "query Trivial { viewer { role } }"
POSTGRAPHILE_TRIVIAL = "query Trivial { __typename }"


@dataclass(frozen=True)
class DealGraphShape:
    """What a deal-graph response contains, in a form both servers' answers can be compared by."""

    deals: tuple[tuple[str, str], ...]
    transcripts: int
    accounts: int

    @classmethod
    def of_dealgraph(cls, data: dict[str, Any]) -> DealGraphShape:
        nodes = [edge["node"] for edge in data["deals"]["edges"]]
        return cls._of(nodes, "account", "transcripts")

    @classmethod
    def of_postgraphile(cls, data: dict[str, Any]) -> DealGraphShape:
        nodes = [edge["node"] for edge in data["allDeals"]["edges"]]
        return cls._of(nodes, "accountByAccountId", "transcriptsByDealId")

    @classmethod
    def _of(cls, nodes: list[dict[str, Any]], account: str, transcripts: str) -> DealGraphShape:
        return cls(
            deals=tuple((node["name"], f"{float(node['amount']):.2f}") for node in nodes),
            transcripts=sum(len(node[transcripts]["edges"]) for node in nodes),
            accounts=sum(1 for node in nodes if node[account] and node[account]["name"]),
        )
