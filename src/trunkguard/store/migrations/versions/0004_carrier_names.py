"""Carrier names from the config (a chain's carriers, up to 64 characters) where only "primary" and
"secondary" were stored: the decision's active carrier, an intent's target, a check's carrier.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

WIDENED = (("decisions", "active"), ("intents", "to_role"), ("checks", "carrier"))


def upgrade() -> None:
    for table, column in WIDENED:  # SQLite keeps no length; batch mode rebuilds its table all the same
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(64), existing_type=sa.String(16), existing_nullable=False)


def downgrade() -> None:
    for table, column in WIDENED:
        with op.batch_alter_table(table) as batch:
            batch.alter_column(column, type_=sa.String(16), existing_type=sa.String(64), existing_nullable=False)
