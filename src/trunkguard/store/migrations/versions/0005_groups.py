"""Routing groups: several carrier chains (e.g. NA and EMEA) in one store. The pair snapshot is kept
one row a group, and decisions, intents and people's actions name their group. What a store from
before holds is the "default" group's (the column's default fills the rows there are). Swap keys
carry the group's name now (`swap-<12 hex>-<group>-<n>-to-<carrier>`, up to some 160 characters with
64-character names), so the key columns widen from 120 to 255.

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

GROUPED = ("pair_state", "decisions", "intents", "operator_actions")
KEYS = (("decisions", "intent_key", True), ("intents", "key", False), ("operator_actions", "used_by", True))


def upgrade() -> None:
    for table in GROUPED:  # SQLite adds the column in place; batch mode keeps the style of 0004
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("group", sa.String(64), nullable=False, server_default="default"))
            batch.create_index(f"ix_{table}_group", ["group"], unique=table == "pair_state")
    for table, column, nullable in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(255), existing_type=sa.String(120), existing_nullable=nullable)
    if op.get_bind().dialect.name == "postgresql":
        # pair_state's row was always written as id 1, by hand, so its serial never moved: the next
        # group's row would be given id 1 again. Start the serial past the rows there are.
        op.execute("SELECT setval(pg_get_serial_sequence('pair_state', 'id'), "
                   "coalesce((SELECT max(id) FROM pair_state), 0) + 1, false)")


def downgrade() -> None:
    """One pair again: the default group's snapshot, as row 1 (where the code before groups reads it).
    Other groups' snapshots are dropped; their decisions, intents and actions stay, no longer told apart."""
    op.execute("DELETE FROM pair_state WHERE \"group\" <> 'default'")
    op.execute("UPDATE pair_state SET id = 1")
    for table, column, nullable in KEYS:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(120), existing_type=sa.String(255), existing_nullable=nullable)
    for table in reversed(GROUPED):
        with op.batch_alter_table(table) as batch:
            batch.drop_index(f"ix_{table}_group")
            batch.drop_column("group")
