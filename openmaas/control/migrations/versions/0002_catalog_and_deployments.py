"""The model catalog and the deployments.

Revision ID: 0002_catalog_and_deployments
Revises: 0001_keys_and_usage
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from openmaas.control.db import UtcDateTime

revision = "0002_catalog_and_deployments"
down_revision: str | None = "0001_keys_and_usage"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "models",
        sa.Column("id", sa.String(200), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source_kind", sa.String(32), nullable=False),
        sa.Column("source", sa.String(1000), nullable=False),
        sa.Column("file", sa.String(500), nullable=True),
        sa.Column("aliases", sa.JSON(), nullable=False),
        sa.Column("context_length", sa.Integer(), nullable=True),
        sa.Column("parameter_count", sa.BigInteger(), nullable=True),
        sa.Column("quantization", sa.String(64), nullable=True),
        sa.Column("license", sa.String(200), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=False),
        sa.Column("input_price_per_million", sa.Float(), nullable=False),
        sa.Column("output_price_per_million", sa.Float(), nullable=False),
        sa.Column("defaults", sa.JSON(), nullable=False),
        sa.Column("keep_alive", sa.Float(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
    )
    op.create_table(
        "deployments",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("defaults", sa.JSON(), nullable=False),
        sa.Column("keep_alive", sa.Float(), nullable=True),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_deployments")),
    )


def downgrade() -> None:
    op.drop_table("deployments")
    op.drop_table("models")
