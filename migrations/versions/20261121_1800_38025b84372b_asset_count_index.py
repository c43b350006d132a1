"""A covering index for the chef's picture's asset counts (unit, archived, level, type)

Revision ID: 38025b84372b
Revises: 3c61ba4a58ab
Create Date: 2026-11-21 18:00:00
"""

from __future__ import annotations

from alembic import op

revision = "38025b84372b"
down_revision = "3c61ba4a58ab"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_protected_asset_unit_counts",
        "protected_asset",
        ["unit_id", "is_archived", "damage_level", "type"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_protected_asset_unit_counts", table_name="protected_asset")
