"""GraphQL documents the tests send, kept in one place so each test reads as its scenario."""

from __future__ import annotations

ERRORS = "errors { field message code }"
ACCOUNT_FIELDS = "id name domain"
DEAL_FIELDS = "id name stage amount currency closeDate account { id name } owner { email }"

CREATE_ACCOUNT = f"""
mutation($input: CreateAccountInput!) {{ createAccount(input: $input) {{ account {{ {ACCOUNT_FIELDS} }} {ERRORS} }} }}"""
UPDATE_ACCOUNT = f"""
mutation($input: UpdateAccountInput!) {{ updateAccount(input: $input) {{ account {{ {ACCOUNT_FIELDS} }} {ERRORS} }} }}"""
DELETE_ACCOUNT = f"mutation($id: ID!) {{ deleteAccount(id: $id) {{ deletedId {ERRORS} }} }}"
CREATE_DEAL = f"""
mutation($input: CreateDealInput!) {{ createDeal(input: $input) {{ deal {{ {DEAL_FIELDS} }} {ERRORS} }} }}"""
UPDATE_DEAL = f"""
mutation($input: UpdateDealInput!) {{ updateDeal(input: $input) {{ deal {{ {DEAL_FIELDS} }} {ERRORS} }} }}"""
DELETE_DEAL = f"mutation($id: ID!) {{ deleteDeal(id: $id) {{ deletedId {ERRORS} }} }}"
ADD_TRANSCRIPT = f"""
mutation($input: AddTranscriptInput!) {{
  addTranscript(input: $input) {{
    transcript {{ id title sourceFormat language participants utteranceCount contentHash
                 utterances(first: 100) {{ edges {{ node {{ index speaker start end text }} }} }} }}
    {ERRORS}
  }}
}}"""
DELETE_TRANSCRIPT = f"mutation($id: ID!) {{ deleteTranscript(id: $id) {{ deletedId {ERRORS} }} }}"
DEAL = f"query($id: ID!) {{ deal(id: $id) {{ {DEAL_FIELDS} }} }}"
NODE = "query($id: ID!) { node(id: $id) { __typename id } }"

SALES_CALL = """Alice Chen: Thanks for joining. Our goal today is to understand the rollout timeline.
Bob Martinez: Sure. We need the integration live before the Q3 board meeting.
Alice Chen: Who signs off on the budget for this?
Bob Martinez: Our CFO, Dana Wright, approves anything above fifty thousand dollars.
Carol Singh: Security review usually takes three weeks on our side.
"""

CREATE_TRANSCRIPT_VARS = {"title": "Discovery call", "content": SALES_CALL, "occurredAt": "2026-11-02T15:00:00Z"}
