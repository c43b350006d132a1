"""Kept asset counts per unit, level and type (asset_count), maintained by triggers

Revision ID: 5b1e0c7d9a21
Revises: 38025b84372b
Create Date: 2026-11-21 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "5b1e0c7d9a21"
down_revision = "38025b84372b"
branch_labels = None
depends_on = None

# Copied from sakskydd/assets/counts.py at the time of this revision (migrations are frozen and
# never import application code). No percent signs: they pass through format-paramstyle drivers.
_SQLITE_ADD = (
    "INSERT INTO asset_count (unit_id, damage_level, type, total) "
    "SELECT NEW.unit_id, NEW.damage_level, NEW.type, 1 WHERE NOT NEW.is_archived "
    "ON CONFLICT (unit_id, damage_level, type) DO UPDATE SET total = total + 1;"
)
_SQLITE_SUBTRACT = (
    "UPDATE asset_count SET total = total - 1 WHERE NOT OLD.is_archived "
    "AND unit_id = OLD.unit_id AND damage_level = OLD.damage_level AND type = OLD.type;"
)
_SQLITE = [
    f"CREATE TRIGGER asset_count_insert AFTER INSERT ON protected_asset BEGIN {_SQLITE_ADD} END",
    "CREATE TRIGGER asset_count_update AFTER UPDATE OF unit_id, damage_level, type, is_archived "
    f"ON protected_asset BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END",
    f"CREATE TRIGGER asset_count_delete AFTER DELETE ON protected_asset BEGIN {_SQLITE_SUBTRACT} END",
]
_POSTGRESQL = [
    """\
CREATE OR REPLACE FUNCTION asset_count_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO asset_count (unit_id, damage_level, type, total)
    SELECT k.unit_id, k.damage_level, k.type, sum(k.delta)
    FROM (
        SELECT OLD.unit_id, OLD.damage_level, OLD.type, -1 WHERE TG_OP <> 'INSERT' AND NOT OLD.is_archived
        UNION ALL
        SELECT NEW.unit_id, NEW.damage_level, NEW.type, 1 WHERE TG_OP <> 'DELETE' AND NOT NEW.is_archived
    ) AS k(unit_id, damage_level, type, delta)
    GROUP BY k.unit_id, k.damage_level, k.type
    HAVING sum(k.delta) <> 0
    ORDER BY k.unit_id, k.damage_level, k.type
    ON CONFLICT (unit_id, damage_level, type) DO UPDATE SET total = asset_count.total + EXCLUDED.total;
    RETURN NULL;
END
$$""",
    "CREATE TRIGGER asset_count_keep AFTER INSERT OR DELETE OR UPDATE OF unit_id, damage_level, "
    "type, is_archived ON protected_asset FOR EACH ROW EXECUTE FUNCTION asset_count_keep()",
]


def upgrade() -> None:
    op.create_table(
        "asset_count",
        sa.Column("unit_id", sa.Uuid(), nullable=False),
        sa.Column(
            "damage_level",
            sa.Enum(
                "NONE",
                "MINOR",
                "NOT_INSIGNIFICANT",
                "SERIOUS",
                "EXCEPTIONALLY_SERIOUS",
                name="damagelevel",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column(
            "type",
            sa.Enum(
                "INFORMATION",
                "SYSTEM",
                "ROUTINE",
                "PERSONNEL",
                "PREMISES",
                "FACILITY",
                "PROPERTY",
                name="assettype",
                native_enum=False,
                length=30,
            ),
            nullable=False,
        ),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["unit_id"], ["org_unit.id"], name=op.f("fk_asset_count_unit_id_org_unit")),
        sa.PrimaryKeyConstraint("unit_id", "damage_level", "type", name=op.f("pk_asset_count")),
    )
    # The counts of the assets already there, then the triggers keep them (one transaction).
    op.execute(
        "INSERT INTO asset_count (unit_id, damage_level, type, total) SELECT unit_id, damage_level, type, count(*) FROM protected_asset "
        "WHERE NOT is_archived GROUP BY unit_id, damage_level, type"
    )
    for statement in _POSTGRESQL if op.get_bind().dialect.name == "postgresql" else _SQLITE:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS asset_count_keep ON protected_asset")
        op.execute("DROP FUNCTION IF EXISTS asset_count_keep()")
    else:
        for name in ("asset_count_insert", "asset_count_update", "asset_count_delete"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("asset_count")
