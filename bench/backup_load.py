"""The pieces of the backup figure (bench/run.py `backup_under_load`): a fresh instance to restore
into, and per-table digests that show the restored copy holds the source's data.

Nothing here is imported by the application; it uses its public pieces (the models' tables, the
backup file's plain header).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

# Tables whose rows belong to the audit chain: compared up to the backup's head, because the
# source goes on appending (the pages' audited reads, `backup.created`) and the restored copy
# appends `backup.restored` and whatever `audit verify` records.
CHAIN_TABLES = {"audit_event": "seq", "audit_checkpoint": "seq"}
# The head moves with every event; it is compared with the backup's header instead.
HEAD_TABLE = "audit_head"


def fresh_instance(source_instance: Path, folder: Path) -> Path:
    """An instance folder on "another machine": only the key file and the signing key, as
    docs/backup.md says (the public key is passed to `sakskydd restore --public-key`)."""
    if folder.exists():
        shutil.rmtree(folder)
    instance = folder / "instance"
    instance.mkdir(parents=True)
    os.chmod(instance, 0o700)
    for name in ("kek", "audit-signing.key"):
        shutil.copy2(source_instance / name, instance / name)
        os.chmod(instance / name, 0o600)
    return instance


def table_digests(url: str, upto_seq: int | None) -> dict[str, Any]:
    """Every table the backup holds: its row count and the SHA-256 of its rows as the model types
    read them (ordered by primary key); the chain's tables up to `upto_seq`, or left out (None)."""
    from sqlalchemy import create_engine, select

    import sakskydd.models  # noqa: F401 - every model registers its table
    from sakskydd.backup import EXCLUDED_TABLES
    from sakskydd.db import Base

    started = time.perf_counter()
    engine = create_engine(url)
    tables: dict[str, dict[str, Any]] = {}
    try:
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                if table.name in EXCLUDED_TABLES or table.name == HEAD_TABLE:
                    continue
                query = select(table).order_by(*table.primary_key.columns)
                if table.name in CHAIN_TABLES:
                    if upto_seq is None:
                        continue
                    query = query.where(table.c[CHAIN_TABLES[table.name]] <= upto_seq)
                digest, rows = hashlib.sha256(), 0
                result = connection.execution_options(stream_results=True, yield_per=5000).execute(query)
                for row in result:
                    digest.update(repr(tuple(row)).encode())
                    digest.update(b"\n")
                    rows += 1
                tables[table.name] = {"rows": rows, "sha256": digest.hexdigest()}
    finally:
        engine.dispose()
    return {"tables": tables, "seconds": round(time.perf_counter() - started, 1)}


def head_at(url: str, seq: int) -> str:
    """The entry hash of event `seq` (hex): what the backup's header says its head is."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            value = connection.execute(
                text("SELECT entry_hash FROM audit_event WHERE seq = :seq"), {"seq": seq}
            ).scalar_one()
    finally:
        engine.dispose()
    return bytes(value).hex()


def compare(
    header_tables: dict[str, int], before: dict[str, Any], after: dict[str, Any], restored: dict[str, Any]
) -> dict[str, Any]:
    """The restored copy against the source. `before` and `after` are the source read before and
    after the backup ran under load (the chain's tables left out of `before`): a table that the
    load changed meanwhile (a stored picture compiled again, …) has no single state to compare
    with and is listed as `moving`; every other table must be the source's, row for row, and
    hold the header's row count. The chain's tables are compared up to the backup's head."""
    moving = sorted(name for name, entry in before["tables"].items() if after["tables"].get(name) != entry)
    names = (set(after["tables"]) | set(restored["tables"])) - set(moving)
    differ = sorted(name for name in names if after["tables"].get(name) != restored["tables"].get(name))
    header_differ = sorted(
        name
        for name, entry in after["tables"].items()
        if name not in moving and header_tables.get(name) != entry["rows"]
    )
    return {
        "tables": len(names),
        "rows": sum(after["tables"][name]["rows"] for name in names if name in after["tables"]),
        "moving": moving,
        "differ": differ,
        "header_differ": header_differ,
        "identical": not differ and not header_differ,
    }
