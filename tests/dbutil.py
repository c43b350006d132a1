"""The one seam tests use to get a database with the application's schema: the real migrations."""

from __future__ import annotations

from sqlalchemy.engine import Engine


def create_schema(engine: Engine) -> None:
    """`alembic upgrade head` on the engine's database (tests run on the migrated schema)."""
    from alembic import command

    from sakskydd.cli import alembic_config

    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
