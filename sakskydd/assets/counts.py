"""The kept asset counts (`asset_count`): database triggers, and a check against the register.

The chef's picture counts current assets per unit, damage level and type. Counting the register
on every view costs a scan of every asset (0.85 s for 5 million on PostgreSQL, docs/benchmarks.md
section 4), so the counts are kept instead: triggers on protected_asset add and subtract in the
same transaction as the change itself. Triggers rather than the services because every path that
writes assets must keep them: the services, the benchmark's bulk load, a migration, a restore.

The trigger statements are copied into the migration that made them (migrations are frozen);
backup.py drops them while a restore loads rows (the counts come from the backup, read in the
same snapshot as the assets) and puts them back before the restore commits.

On PostgreSQL one statement applies an update's subtraction and addition, in key order, so two
transactions moving assets in opposite directions lock the count rows in the same order and
cannot deadlock each other. SQLite runs one writer at a time (BEGIN IMMEDIATE).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from sqlalchemy import func, select

from sakskydd.assets.models import AssetCount, ProtectedAsset

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

_SQLITE_ADD = (
    "INSERT INTO asset_count (unit_id, damage_level, type, total) "
    "SELECT NEW.unit_id, NEW.damage_level, NEW.type, 1 WHERE NOT NEW.is_archived "
    "ON CONFLICT (unit_id, damage_level, type) DO UPDATE SET total = total + 1;"
)
_SQLITE_SUBTRACT = (
    "UPDATE asset_count SET total = total - 1 WHERE NOT OLD.is_archived "
    "AND unit_id = OLD.unit_id AND damage_level = OLD.damage_level AND type = OLD.type;"
)
SQLITE_NAMES: Final = ("asset_count_insert", "asset_count_update", "asset_count_delete")

# No percent signs: the body passes through DB-API drivers with the format paramstyle.
_PG_FUNCTION = """\
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
$$"""


def trigger_statements(dialect_name: str) -> list[str]:
    """CREATE statements for the triggers that keep asset_count ("sqlite" or "postgresql")."""
    if dialect_name == "sqlite":
        return [
            f"CREATE TRIGGER asset_count_insert AFTER INSERT ON protected_asset BEGIN {_SQLITE_ADD} END",
            "CREATE TRIGGER asset_count_update AFTER UPDATE OF unit_id, damage_level, type, is_archived "
            f"ON protected_asset BEGIN {_SQLITE_SUBTRACT} {_SQLITE_ADD} END",
            f"CREATE TRIGGER asset_count_delete AFTER DELETE ON protected_asset BEGIN {_SQLITE_SUBTRACT} END",
        ]
    if dialect_name == "postgresql":
        return [
            _PG_FUNCTION,
            "CREATE TRIGGER asset_count_keep AFTER INSERT OR DELETE OR UPDATE OF unit_id, damage_level, "
            "type, is_archived ON protected_asset FOR EACH ROW EXECUTE FUNCTION asset_count_keep()",
        ]
    raise ValueError(f"no asset count triggers for {dialect_name}")


def drop_statements(dialect_name: str, *, function: bool = True) -> list[str]:
    """DROP statements undoing trigger_statements (the function too unless `function=False`)."""
    if dialect_name == "sqlite":
        return [f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_NAMES]
    if dialect_name == "postgresql":
        statements = ["DROP TRIGGER IF EXISTS asset_count_keep ON protected_asset"]
        if function:
            statements.append("DROP FUNCTION IF EXISTS asset_count_keep()")
        return statements
    raise ValueError(f"no asset count triggers for {dialect_name}")


def counted_from_register(session: Session) -> dict[tuple[str, str, str], int]:
    """The current assets counted from the register itself, by (unit id, level, type) as text."""
    rows = session.execute(
        select(ProtectedAsset.unit_id, ProtectedAsset.damage_level, ProtectedAsset.type, func.count())
        .where(ProtectedAsset.is_archived.is_(False))
        .group_by(ProtectedAsset.unit_id, ProtectedAsset.damage_level, ProtectedAsset.type)
    )
    return {(str(unit), str(level), str(kind)): n for unit, level, kind, n in rows}


def kept(session: Session) -> dict[tuple[str, str, str], int]:
    """The kept counts, without the keys whose count is zero."""
    rows = session.execute(
        select(AssetCount.unit_id, AssetCount.damage_level, AssetCount.type, AssetCount.total).where(
            AssetCount.total != 0
        )
    )
    return {(str(unit), str(level), str(kind)): n for unit, level, kind, n in rows}


def mismatches(session: Session) -> dict[tuple[str, str, str], tuple[int, int]]:
    """Every key where the kept count differs from the register: {key: (kept, counted)}."""
    counted, stored = counted_from_register(session), kept(session)
    return {
        key: (stored.get(key, 0), counted.get(key, 0))
        for key in counted.keys() | stored.keys()
        if stored.get(key, 0) != counted.get(key, 0)
    }
