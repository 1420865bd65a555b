"""the application's PostgreSQL functions (re)created from dealgraph/db/sql/*.sql

Revision ID: 0008
Revises: 0007

Until now each function's text lived in the migration that introduced it (0001, 0005, 0007, and
dealgraph.db.rls). From here on the text a reader edits is the `.sql` file, one function per file, and
a migration loads it. This one loads every file; the definitions are those of the earlier revisions
(only comments outside the bodies were added), so the downgrade has nothing to restore.

`LOADED` pins each file's digest as this revision loaded it. Editing a file means adding a migration
that loads it again with its new digest: tests/test_sql_functions.py fails until there is one.
"""

from __future__ import annotations

from alembic import op

from dealgraph.db import sql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

LOADED = {
    "authenticate": "a7ecd9c4fe7c9b50",
    "claim_runs": "e5e6227a903e8b0a",
    "current_tenant": "e83c0946b051f1de",
    "finish_run": "471fa221faebdddb",
    "notify_key_revoked": "2e20dcfa51e45379",
    "settle_analysis": "17d6ddac66ad733a",
}


def upgrade() -> None:
    for statement in sql.pinned(LOADED):
        op.execute(statement)


def downgrade() -> None:
    pass  # the same definitions as before this revision: nothing to undo
