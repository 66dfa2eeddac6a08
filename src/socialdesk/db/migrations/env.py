"""Alembic environment: the URL comes from settings unless the caller passes a connection."""

from alembic import context

from socialdesk.config import get_settings
from socialdesk.db.engine import make_engine
from socialdesk.db.models import Base
from socialdesk.search.index import include_name, include_object

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url") or get_settings().resolved_database_url
    engine = make_engine(url)
    with engine.connect() as conn:
        _run(conn)
        conn.commit()
    engine.dispose()


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds tables safely.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        # The search domain's FTS5 virtual tables are not SQLAlchemy tables; leave them alone.
        include_name=include_name,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
