"""Alembic migrations, applied at start. Each service keeps its own versions folder.

A service's `migrations/env.py` is one call to `run_in_alembic_env(metadata)`.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import Connection, MetaData

from services.common.db.engine import Database


def _config(script_location: Path, connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.attributes["connection"] = connection
    return cfg


async def upgrade_to_head(database: Database, script_location: Path) -> None:
    def upgrade(connection: Connection) -> None:
        command.upgrade(_config(script_location, connection), "head")

    async with database.engine.begin() as conn:
        await conn.run_sync(upgrade)


def run_in_alembic_env(target_metadata: MetaData) -> None:
    """Body of every service's env.py: migrate on the connection handed in by upgrade_to_head."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("migrations run at service start, through upgrade_to_head()")
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
