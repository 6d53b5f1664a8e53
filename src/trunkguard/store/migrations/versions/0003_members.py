"""Replicas and vantage agents heartbeat a row each: who they are, when the store last heard of them
(on the store's clock), and their vantage's view of the carriers.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("members",
                    sa.Column("holder", sa.String(200), primary_key=True),
                    sa.Column("name", sa.String(64), nullable=False, index=True),
                    sa.Column("kind", sa.String(16), nullable=False),
                    sa.Column("host", sa.String(200), nullable=False),
                    sa.Column("pid", sa.Integer, nullable=False),
                    sa.Column("started_at", sa.Float, nullable=False),
                    sa.Column("seen_at", sa.Float, nullable=False, index=True),
                    sa.Column("view", sa.JSON, nullable=True))


def downgrade() -> None:
    op.drop_table("members")
