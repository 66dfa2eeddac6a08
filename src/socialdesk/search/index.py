"""The search index's DDL, for the migration and for ``create_all`` (tests, fresh installs).

SQLite: FTS5 tables with external content (no copy of the text), kept current by triggers
on ``message``, ``customer`` and ``identity``; accents and case are folded by the
``unicode61 remove_diacritics 2`` tokenizer. PostgreSQL: GIN indexes on ``to_tsvector('simple', …)``
expressions, which the database keeps current itself. The 'simple' configuration does no
stemming, because messages arrive in many languages.

The PostgreSQL indexes are declared as metadata (``PG_INDEX_OBJECTS``, created only on
PostgreSQL), so Alembic compares them like any index. The SQLite FTS5 tables cannot be
described as SQLAlchemy tables; schema comparison must skip them with ``include_name`` below
(Alembic's ``include_name`` hook).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Index, event, func, literal, literal_column
from sqlalchemy.engine import Connection

from socialdesk.conversations.models import Message
from socialdesk.customers.models import Customer, Identity
from socialdesk.db.base import Base

FTS_TABLES = ("message_fts", "customer_fts", "identity_fts")
PG_INDEXES = ("ix_message_search", "ix_customer_search", "ix_identity_search")

# The columns each index covers, and the SQL expression PostgreSQL indexes (queries must repeat it).
MESSAGE_COLUMNS = ("text", "author_name", "author_handle")
CUSTOMER_COLUMNS = ("name", "email", "phone")
IDENTITY_COLUMNS = ("handle", "display_name")


def pg_document(columns: tuple[str, ...], table: str = "") -> str:
    prefix = f"{table}." if table else ""
    joined = " || ' ' || ".join(f"coalesce({prefix}{c}, '')" for c in columns)
    return f"to_tsvector('simple'::regconfig, {joined})"


def _fts(table: str, source: str, columns: tuple[str, ...]) -> list[str]:
    cols = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    delete = f"INSERT INTO {table}({table}, rowid, {cols}) VALUES ('delete', old.id, {old});"
    insert = f"INSERT INTO {table}(rowid, {cols}) VALUES (new.id, {new});"
    return [
        f"CREATE VIRTUAL TABLE IF NOT EXISTS {table} USING fts5({cols}, content='{source}', "
        f"content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
        f"CREATE TRIGGER IF NOT EXISTS {table}_ai AFTER INSERT ON {source} BEGIN {insert} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_ad AFTER DELETE ON {source} BEGIN {delete} END",
        f"CREATE TRIGGER IF NOT EXISTS {table}_au AFTER UPDATE OF {cols} ON {source} "
        f"BEGIN {delete} {insert} END",
        # Index whatever the table already holds (a no-op on an empty one).
        f"INSERT INTO {table}({table}) VALUES ('rebuild')",
    ]


def sqlite_statements() -> list[str]:
    return (
        _fts("message_fts", "message", MESSAGE_COLUMNS)
        + _fts("customer_fts", "customer", CUSTOMER_COLUMNS)
        + _fts("identity_fts", "identity", IDENTITY_COLUMNS)
    )


def sqlite_drop_statements() -> list[str]:
    out = []
    for table in FTS_TABLES:
        out += [f"DROP TRIGGER IF EXISTS {table}_{s}" for s in ("ai", "ad", "au")]
        out.append(f"DROP TABLE IF EXISTS {table}")
    return out


def _pg_index(name: str, model: Any, columns: tuple[str, ...]) -> Index:
    """The GIN index as SQLAlchemy metadata (PostgreSQL only), so schema comparison knows it."""
    parts: list[Any] = []
    for column in columns:
        if parts:
            parts.append(literal(" "))
        parts.append(func.coalesce(getattr(model, column), literal("")))
    document = parts[0]
    for part in parts[1:]:
        document = document.op("||")(part)
    expression = func.to_tsvector(literal_column("'simple'::regconfig"), document)
    # A literal_column among the expressions hides the table from Index, so name it.
    return Index(name, expression, postgresql_using="gin", _table=model.__table__).ddl_if(
        dialect="postgresql"
    )


PG_INDEX_OBJECTS = (
    _pg_index("ix_message_search", Message, MESSAGE_COLUMNS),
    _pg_index("ix_customer_search", Customer, CUSTOMER_COLUMNS),
    _pg_index("ix_identity_search", Identity, IDENTITY_COLUMNS),
)


def postgresql_statements() -> list[str]:
    sources = (("message", MESSAGE_COLUMNS), ("customer", CUSTOMER_COLUMNS), ("identity", IDENTITY_COLUMNS))
    return [
        f"CREATE INDEX IF NOT EXISTS ix_{table}_search ON {table} USING gin ({pg_document(columns)})"
        for table, columns in sources
    ]


def postgresql_drop_statements() -> list[str]:
    return [f"DROP INDEX IF EXISTS {name}" for name in PG_INDEXES]


def create_search_index(connection: Connection) -> None:
    from sqlalchemy import text

    dialect = connection.dialect.name
    statements = sqlite_statements() if dialect == "sqlite" else postgresql_statements()
    if dialect not in ("sqlite", "postgresql"):
        return
    for statement in statements:
        connection.execute(text(statement))


def drop_search_index(connection: Connection) -> None:
    from sqlalchemy import text

    dialect = connection.dialect.name
    if dialect == "sqlite":
        statements = sqlite_drop_statements()
    elif dialect == "postgresql":
        statements = postgresql_drop_statements()
    else:
        return
    for statement in statements:
        connection.execute(text(statement))


def include_name(name: str | None, type_: str, parent_names: dict[str, Any]) -> bool:
    """Alembic ``include_name`` hook: leave the search index's own objects out of comparisons."""
    if name is None:
        return True
    if type_ == "table":
        return not any(name == t or name.startswith(t + "_") for t in FTS_TABLES)
    if type_ == "index":
        return name not in PG_INDEXES
    return True


def _after_create(target: Any, connection: Connection, **kw: Any) -> None:
    # create_all built message, customer and identity; index them like the migration does
    # (on PostgreSQL the GIN indexes above are metadata, so create_all made them already).
    tables = {t.name for t in kw.get("tables") or target.sorted_tables}
    if connection.dialect.name == "sqlite" and {"message", "customer", "identity"} <= tables:
        create_search_index(connection)


event.listen(Base.metadata, "after_create", _after_create)


def _before_drop(target: Any, connection: Connection, **kw: Any) -> None:
    drop_search_index(connection)


event.listen(Base.metadata, "before_drop", _before_drop)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Alembic ``include_object`` hook: the expression indexes are the migration's to manage
    (their reflected form never compares equal to the model's)."""
    return not (type_ == "index" and name in PG_INDEXES)
