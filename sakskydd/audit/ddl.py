"""Database triggers that make the audit tables append-only (copied into the Alembic migration).

audit_event and audit_checkpoint reject UPDATE and DELETE (and TRUNCATE on PostgreSQL).
audit_head may only move forward by one (every append) and cannot be deleted. On
PostgreSQL the runtime role should also get only SELECT/INSERT on audit_event and
audit_checkpoint and SELECT/INSERT/UPDATE on audit_head (docs/audit.md).
"""

from __future__ import annotations

APPEND_ONLY_TABLES = ("audit_event", "audit_checkpoint")


def _sqlite_triggers() -> list[str]:
    statements = []
    for table in APPEND_ONLY_TABLES:
        for operation in ("UPDATE", "DELETE"):
            statements.append(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )
    statements.append(
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE ON audit_head "
        "WHEN NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 "
        "BEGIN SELECT RAISE(ABORT, 'audit_head only moves forward by one'); END"
    )
    statements.append(
        "CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head "
        "BEGIN SELECT RAISE(ABORT, 'audit_head cannot be deleted'); END"
    )
    return statements


# No percent signs in these bodies: they must pass through DB-API drivers with the format paramstyle.
_PG_APPEND_ONLY_FUNCTION = """\
CREATE OR REPLACE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING MESSAGE = TG_TABLE_NAME || ' is append-only', ERRCODE = 'insufficient_privilege';
END
$$"""

_PG_HEAD_FUNCTION = """\
CREATE OR REPLACE FUNCTION audit_head_forward_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.id <> OLD.id OR NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'audit_head only moves forward by one' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END
$$"""


def _postgresql_triggers() -> list[str]:
    statements = [_PG_APPEND_ONLY_FUNCTION, _PG_HEAD_FUNCTION]
    for table in APPEND_ONLY_TABLES:
        statements.append(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_append_only()"
        )
        statements.append(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
        )
    statements.append(
        "CREATE TRIGGER audit_head_forward_only BEFORE UPDATE OR DELETE ON audit_head "
        "FOR EACH ROW EXECUTE FUNCTION audit_head_forward_only()"
    )
    statements.append(
        "CREATE TRIGGER audit_head_no_truncate BEFORE TRUNCATE ON audit_head "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_append_only()"
    )
    return statements


def trigger_statements(dialect_name: str) -> list[str]:
    """CREATE statements for the append-only triggers of one dialect ("sqlite" or "postgresql")."""
    if dialect_name == "sqlite":
        return _sqlite_triggers()
    if dialect_name == "postgresql":
        return _postgresql_triggers()
    raise ValueError(f"no audit triggers for {dialect_name}")


def drop_statements(dialect_name: str) -> list[str]:
    """DROP statements undoing trigger_statements (for the migration's downgrade)."""
    if dialect_name == "sqlite":
        names = [f"{t}_no_{op}" for t in APPEND_ONLY_TABLES for op in ("update", "delete")]
        names += ["audit_head_forward_only", "audit_head_no_delete"]
        return [f"DROP TRIGGER IF EXISTS {name}" for name in names]
    if dialect_name == "postgresql":
        statements = []
        for table in APPEND_ONLY_TABLES:
            statements.append(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            statements.append(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        statements.append("DROP TRIGGER IF EXISTS audit_head_forward_only ON audit_head")
        statements.append("DROP TRIGGER IF EXISTS audit_head_no_truncate ON audit_head")
        statements.append("DROP FUNCTION IF EXISTS audit_head_forward_only()")
        statements.append("DROP FUNCTION IF EXISTS audit_append_only()")
        return statements
    raise ValueError(f"no audit triggers for {dialect_name}")
