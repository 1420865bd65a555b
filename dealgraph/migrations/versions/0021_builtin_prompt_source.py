"""built-in prompt source: the hash start-up seeded each built-in template's current version from

Revision ID: 0021
Revises: 0020

`prompt_templates.builtin_source` lets start-up see that the built-in versions are current without computing
their output schemas, which needs the Claude SDK (`dealgraph.prompts.templates.source_hash`). Null until the
next start-up seeds, which records it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("prompt_templates", sa.Column("builtin_source", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("prompt_templates", "builtin_source")
