"""The stored chef's picture per operator (oversight_picture)

Revision ID: 7c2d4e6f8a10
Revises: 5b1e0c7d9a21
Create Date: 2026-11-22 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "7c2d4e6f8a10"
down_revision = "5b1e0c7d9a21"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oversight_picture",
        sa.Column("operator_id", sa.Uuid(), nullable=False),
        sa.Column("compiled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("compiled_on", sa.Date(), nullable=False),
        sa.Column("audit_seq", sa.BigInteger(), nullable=False),
        sa.Column("rules_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["operator_id"], ["operator.id"], name=op.f("fk_oversight_picture_operator_id_operator")
        ),
        sa.PrimaryKeyConstraint("operator_id", name=op.f("pk_oversight_picture")),
    )


def downgrade() -> None:
    op.drop_table("oversight_picture")
