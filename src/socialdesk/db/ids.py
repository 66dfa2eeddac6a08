"""Client-side primary keys for bulk writes.

Rows that carry their ids need no RETURNING, so a batch goes out as one executemany per
table (SQLite can only return generated ids one INSERT at a time).
"""

from __future__ import annotations

from sqlalchemy import event, text
from sqlalchemy.orm import Session


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


class IdPool:
    """Hands out reserved ids table by table, reserving them in chunks."""

    def __init__(self, session: Session, chunk: int = 1000) -> None:
        self.session = session
        self.chunk = chunk
        self._free: dict[str, list[int]] = {}

    def reserve_ahead(self, counts: dict[str, int]) -> None:
        """Reserve ids for several tables in ONE statement (a small batch would otherwise
        spend more time reserving, one or two statements per table, than writing).

        On SQLite this takes the write lock first, as ``reserve`` does.
        """
        counts = {t: n for t, n in counts.items() if n > 0}
        if not counts:
            return
        dialect = self.session.get_bind().dialect.name
        if dialect == "postgresql":
            values = ", ".join(f"(:t{i}, :n{i})" for i in range(len(counts)))
            params: dict[str, object] = {}
            for i, (table, n) in enumerate(counts.items()):
                params[f"t{i}"], params[f"n{i}"] = table, n
            rows = self.session.execute(
                text(
                    "SELECT r.t, nextval(pg_get_serial_sequence(r.t, 'id')::regclass) "  # noqa: S608
                    f"FROM (VALUES {values}) AS r(t, n), generate_series(1, r.n)"
                ),
                params,
            )
            got: dict[str, list[int]] = {t: [] for t in counts}
            for table, value in rows:
                got[table].append(value)
        elif dialect == "sqlite":
            counters: dict[str, int] = self.session.info.setdefault("reserved_ids", {})
            first = next(iter(counts))
            self.session.execute(text(f'UPDATE "{first}" SET id = id WHERE 0'))  # noqa: S608
            unknown = [t for t in counts if t not in counters]
            if unknown:
                maxima = ", ".join(f'(SELECT COALESCE(MAX(id), 0) FROM "{t}")' for t in unknown)
                found = self.session.execute(text(f"SELECT {maxima}")).one()  # noqa: S608
                counters.update(zip(unknown, found, strict=True))
            got = {}
            for table, n in counts.items():
                got[table] = list(range(counters[table] + 1, counters[table] + n + 1))
                counters[table] += n
        else:
            raise NotImplementedError(f"no id reservation for {dialect}")
        for table, ids in got.items():
            self._free[table] = list(reversed(ids)) + self._free.get(table, [])

    def next(self, table: str) -> int:
        free = self._free.get(table)
        if not free:
            free = list(reversed(list(reserve(self.session, table, self.chunk))))
            self._free[table] = free
        return free.pop()
