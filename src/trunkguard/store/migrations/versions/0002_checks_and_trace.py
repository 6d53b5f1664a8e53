"""Check results and the event trace move into the store (they were JSON files beside it).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("checks",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("check", sa.String(16), nullable=False, index=True),
                    sa.Column("carrier", sa.String(16), nullable=False),
                    sa.Column("trunk", sa.String(64), nullable=True),
                    sa.Column("ok", sa.Boolean, nullable=False),
                    sa.Column("at", sa.Float, nullable=False, index=True),
                    sa.Column("summary", sa.Text, nullable=False),
                    sa.Column("result", sa.JSON, nullable=False),
                    sa.Column("term", sa.Integer, nullable=True))
    op.create_table("trace_events",
                    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
                    sa.Column("at", sa.Float, nullable=False, index=True),
                    sa.Column("kind", sa.String(24), nullable=False),
                    sa.Column("data", sa.JSON, nullable=False),
                    sa.Column("term", sa.Integer, nullable=False))


def downgrade() -> None:
    op.drop_table("trace_events")
    op.drop_table("checks")
