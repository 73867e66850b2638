"""Usage rows carry the server's unique call id (the usage journal's replay writes each call once).

Revision ID: 0004_usage_call_id
Revises: 0003_conversations
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_usage_call_id"
down_revision: str | None = "0003_conversations"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: rows written before this revision have no id. A unique index, not a constraint,
    # since SQLite cannot add a constraint to an existing table.
    op.add_column("usage", sa.Column("call_id", sa.String(32), nullable=True))
    op.create_index("ix_usage_call_id", "usage", ["call_id"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_usage_call_id", table_name="usage")
    op.drop_column("usage", "call_id")
