"""The first schema: lease, pair state, decisions, intents, operator actions.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("lease",
                    sa.Column("name", sa.String(64), primary_key=True),
                    sa.Column("holder", sa.String(200), nullable=False),
                    sa.Column("term", sa.Integer, nullable=False),
                    sa.Column("expires_at", sa.Float, nullable=False))
    op.create_table("pair_state",
                    sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("snapshot", sa.JSON, nullable=False),
                    sa.Column("term", sa.Integer, nullable=False),
                    sa.Column("updated_at", sa.Float, nullable=False))
    op.create_table("decisions",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.Float, nullable=False, index=True),
                    sa.Column("kind", sa.String(32), nullable=False),
                    sa.Column("sentence", sa.Text, nullable=False),
                    sa.Column("state", sa.String(32), nullable=False),
                    sa.Column("active", sa.String(16), nullable=False),
                    sa.Column("intent_key", sa.String(120), nullable=True),
                    sa.Column("evidence", sa.JSON, nullable=False),
                    sa.Column("term", sa.Integer, nullable=False))
    op.create_table("intents",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("key", sa.String(120), nullable=False, unique=True),
                    sa.Column("to_role", sa.String(16), nullable=False),
                    sa.Column("trunk_group_id", sa.String(200), nullable=False),
                    sa.Column("trigger", sa.String(16), nullable=False),
                    sa.Column("reason", sa.Text, nullable=False),
                    sa.Column("status", sa.String(16), nullable=False, index=True),
                    sa.Column("outcome", sa.Text, nullable=False),
                    sa.Column("prior", sa.JSON, nullable=True),
                    sa.Column("after", sa.JSON, nullable=True),
                    sa.Column("created_at", sa.Float, nullable=False),
                    sa.Column("finished_at", sa.Float, nullable=True),
                    sa.Column("term", sa.Integer, nullable=False))
    op.create_table("operator_actions",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("kind", sa.String(16), nullable=False),
                    sa.Column("who", sa.String(200), nullable=False),
                    sa.Column("why", sa.Text, nullable=False),
                    sa.Column("at", sa.Float, nullable=False),
                    sa.Column("result", sa.Text, nullable=False),
                    sa.Column("used_at", sa.Float, nullable=True),
                    sa.Column("used_by", sa.String(120), nullable=True),
                    sa.Column("term", sa.Integer, nullable=False))


def downgrade() -> None:
    for table in ("operator_actions", "intents", "decisions", "pair_state", "lease"):
        op.drop_table(table)
