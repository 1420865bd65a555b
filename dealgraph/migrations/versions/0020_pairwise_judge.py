"""pairwise judge: an experiment's optional model-graded comparison, one judge request per call and agent

Revision ID: 0020
Revises: 0019

`experiments.judge_version_id` names the judge's prompt version when it compares the two answers of each call
(null: no judge); its requests are rows of `experiment_requests` (side `judge`) whose `shown_first` records
which answer it read first. The judge's prompt template is a row of `prompt_templates` under the reserved name
`pairwise_judge`, loaded at start-up like the agents' built-in templates: no change to that table.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("experiments", sa.Column("judge_version_id", sa.UUID(), nullable=True))
    op.add_column("experiment_requests", sa.Column("shown_first", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("experiment_requests", "shown_first")
    op.drop_column("experiments", "judge_version_id")
