"""The one seam tests use to get a database with the application's schema.

Temporary during the first build: create_all plus the audit triggers. It will become
`alembic upgrade head` once the first migration exists (tests run on the migrated schema).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine


def create_schema(engine: Engine) -> None:
    import sakskydd.models  # noqa: F401  (registers every model on Base.metadata)
    from sakskydd.db import Base

    Base.metadata.create_all(engine)
    try:
        from sakskydd.audit.ddl import trigger_statements
    except ImportError:  # the audit package is still being written
        return
    with engine.begin() as connection:
        for statement in trigger_statements(engine.dialect.name):
            connection.exec_driver_sql(statement)
