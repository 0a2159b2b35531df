"""Alembic environment for the platform schema.

Where the database comes from, in this order:

1. a SQLAlchemy ``Connection`` in ``config.attributes["connection"]`` (rlsguard's
   fixtures and ``rlsguard check`` hand one in; it takes precedence over everything), or
   an ``Engine`` there (as pytest-alembic hands one in);
2. the ``RLSGUARD_DATABASE_URL`` environment variable;
3. ``sqlalchemy.url`` from the Alembic config, when a caller sets it.
"""

from __future__ import annotations

import os
from logging.config import fileConfig

from alembic import context
from platform_models import Base  # importable through prepend_sys_path in alembic.ini
from sqlalchemy import Connection, Engine, create_engine, make_url, pool

config = context.config
target_metadata = Base.metadata

handed_in = config.attributes.get("connection")
if config.config_file_name is not None and handed_in is None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = os.environ.get("RLSGUARD_DATABASE_URL") or config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit(
            "No database to migrate: set RLSGUARD_DATABASE_URL "
            "(for example postgresql://user:password@localhost:5432/dbname)."
        )
    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):  # SQLAlchemy 2.1 would pick psycopg 3
        parsed = parsed.set(drivername="postgresql+psycopg2")
    return parsed.render_as_string(hide_password=False)


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    if isinstance(handed_in, Connection):
        run_with(handed_in)
        return
    if isinstance(handed_in, Engine):
        with handed_in.connect() as connection:
            run_with(connection)
            connection.commit()
        return
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            run_with(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
