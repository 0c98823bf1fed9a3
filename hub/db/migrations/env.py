"""Alembic environment: runs on the connection the hub passes in, or on the hub's configured database."""
from alembic import context
from sqlalchemy import create_engine

from hub.db.schema import metadata

config = context.config


def run() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    from hub.settings import Settings

    engine = create_engine(Settings().resolved_database_url)
    with engine.begin() as conn:
        context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
