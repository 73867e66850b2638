"""The playground's conversations, per API key.

Revision ID: 0003_conversations
Revises: 0002_catalog_and_deployments
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from openmaas.control.db import UtcDateTime

revision = "0003_conversations"
down_revision: str | None = "0002_catalog_and_deployments"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(32), nullable=True),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("settings", sa.JSON(), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index("ix_conversations_key_id_updated_at", "conversations", ["key_id", "updated_at"])


def downgrade() -> None:
    op.drop_index("ix_conversations_key_id_updated_at", table_name="conversations")
    op.drop_table("conversations")
