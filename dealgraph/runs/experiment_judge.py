"""The pairwise judge's requests of an experiment: each compares the baseline's and the candidate's answers of
one call and agent, once both are stored, shown in the order recorded on its row when the experiment started.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dealgraph.db.models import ExperimentRequest, RequestSide
from dealgraph.json_text import dumps
from dealgraph.runs.experiment_answers import Pending

_ORDERS = {
    RequestSide.BASELINE: (RequestSide.BASELINE, RequestSide.CANDIDATE),
    RequestSide.CANDIDATE: (RequestSide.CANDIDATE, RequestSide.BASELINE),
}
"""The sides of the two answers in the order shown, by the side shown first."""


def judge_requests(rows: Sequence[ExperimentRequest]) -> tuple[list[Pending], dict[str, dict[str, Any]]]:
    """Of an experiment's rows: its pending judge requests, each with the two answers in the order it is shown
    them; and the values that end those with an answer missing (failed, canceled, expired) as skipped."""
    answers = {(row.transcript_id, row.agent, row.side): row for row in rows if row.side != RequestSide.JUDGE}
    sendable: list[Pending] = []
    skipped: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.side != RequestSide.JUDGE or row.state != "pending":
            continue
        pair = [
            (side, answers.get((row.transcript_id, row.agent, side)))
            for side in _ORDERS[RequestSide(str(row.shown_first))]
        ]
        results = [answer.result for _, answer in pair if answer is not None and answer.result is not None]
        if len(results) < len(pair):
            unanswered = "; ".join(
                f"the {side}'s {_failure(answer)}" for side, answer in pair if answer is None or answer.result is None
            )
            skipped[row.custom_id] = {"state": "skipped", "error_message": f"nothing to compare: {unanswered}"}
            continue
        shown = (dumps(results[0]), dumps(results[1]))
        sendable.append(Pending(row.custom_id, row.transcript_id, row.agent, row.prompt_version_id, shown))
    return sendable, skipped


def _failure(answer: ExperimentRequest | None) -> str:
    if answer is None:
        return "answer is missing"
    return f"answer {answer.state}" + (f" ({answer.error_code})" if answer.error_code else "")
