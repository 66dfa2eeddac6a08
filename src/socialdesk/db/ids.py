"""Client-side primary keys for bulk writes.

The ORM must read back each new row's id, and on SQLite it can only do that one INSERT at a
time. Giving a batch of new objects their ids up front lets it send one executemany per
table instead, which is what makes file import fast.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import event, text
from sqlalchemy.orm import Session


def assign_ids(session: Session) -> int:
    """Give every pending object without an id one reserved for it; returns how many."""
    pending: dict[type, list[object]] = defaultdict(list)
    for obj in session.new:
        mapper = getattr(obj, "__mapper__", None)
        if mapper is None or len(mapper.primary_key) != 1 or mapper.primary_key[0].name != "id":
            continue
        if getattr(obj, "id", None) is None:
            pending[type(obj)].append(obj)
    # The reservation queries must not autoflush the very objects we are numbering.
    with session.no_autoflush:
        for model, objects in pending.items():
            for obj, ident in zip(objects, reserve(session, model.__table__.name, len(objects)), strict=True):
                obj.id = ident  # type: ignore[attr-defined]
    return sum(len(v) for v in pending.values())


def reserve(session: Session, table: str, count: int) -> range | list[int]:
    if count == 0:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        rows = session.execute(
            text("SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :n)"),
            {"table": table, "n": count},
        )
        return [r[0] for r in rows]
    if dialect != "sqlite":
        raise NotImplementedError(f"no id reservation for {dialect}")
    # Any write statement takes SQLite's write lock for the rest of the transaction, so
    # MAX(id) cannot move under us; later reservations continue from our own counter.
    counters: dict[str, int] = session.info.setdefault("reserved_ids", {})
    if table not in counters:
        session.execute(text(f'UPDATE "{table}" SET id = id WHERE 0'))  # noqa: S608 - table from the mapper
        counters[table] = session.execute(text(f'SELECT COALESCE(MAX(id), 0) FROM "{table}"')).scalar_one()
    start = counters[table] + 1
    counters[table] += count
    return range(start, start + count)


def forget_reservations(session: Session) -> None:
    """Call after commit/rollback: a new transaction must read MAX(id) afresh."""
    session.info.pop("reserved_ids", None)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    forget_reservations(session)


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    forget_reservations(session)
