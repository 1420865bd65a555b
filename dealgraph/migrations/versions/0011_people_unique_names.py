"""people: one person per name without an email on an account (or among sellers), so racing adds share them

Revision ID: 0011
Revises: 0009

Two transcripts added at once could each create the same person: the same email was refused by
`uq_people_tenant_email` as an internal error, the same name was saved twice. Creation now inserts with
ON CONFLICT DO NOTHING and links again (`dealgraph.services.people.link_call`), which needs the name to be
unique too: among the people without an email, per account, sellers (no account) counting as one account.
Twins saved before this revision are merged into the oldest first, as `mergePeople` would.
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TWINS = """
    CREATE TEMPORARY TABLE people_twins AS
    SELECT id, first_value(id) OVER (
               PARTITION BY tenant_id, account_id, name_key ORDER BY created_at, id) AS kept
    FROM people WHERE email IS NULL
    """
_MERGE_TWINS = (
    "DELETE FROM people_twins WHERE id = kept",
    "UPDATE transcript_speakers s SET person_id = t.kept FROM people_twins t WHERE s.person_id = t.id",
    "UPDATE person_aliases a SET person_id = t.kept FROM people_twins t WHERE a.person_id = t.id",
    "DELETE FROM people p USING people_twins t WHERE p.id = t.id",
    "DROP TABLE people_twins",
)


def upgrade() -> None:
    op.execute(_TWINS)
    for statement in _MERGE_TWINS:
        op.execute(statement)
    op.create_index(
        "uq_people_tenant_account_name",
        "people",
        ["tenant_id", "account_id", "name_key"],
        unique=True,
        postgresql_where="email IS NULL",
        postgresql_nulls_not_distinct=True,
    )


def downgrade() -> None:
    op.drop_index("uq_people_tenant_account_name", table_name="people")
