"""Thread aliases: a second thread key that continues an existing conversation.

A public → private handoff answers a public post and opens the customer's DM thread; the
customer's DMs must then join the conversation that asked for them, not start a new
private one. The handoff writes an alias (account, DM thread key) → conversation, and
every lookup of "the newest conversation on this thread key" goes through
``latest_on_threads``, which applies the alias with the threading rules:

- a conversation started on the key itself after the alias was written (its generation is
  above the alias's ``after_generation``) wins: the key has moved on;
- an alias whose conversation could no longer take a customer message (closed, or resolved
  longer ago than the reopen window, ``threading.needs_new_generation``) is ignored, so it
  never resurrects a finished conversation: the key's own newest conversation is returned
  and the threading rules apply to it as if there were no alias (a new generation on the
  key's own numbering).

A resolved alias target inside the reopen window is returned, and the customer's DM
reopens it, exactly as a reply on its own thread would.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Integer, Select, bindparam, cast, func, null, select, union_all
from sqlalchemy.orm import Session

from socialdesk.config import get_settings
from socialdesk.conversations.models import Conversation, ThreadAlias
from socialdesk.conversations.threading import needs_new_generation
from socialdesk.db.base import utcnow


def latest_on_threads(
    session: Session,
    account_id: int,
    keys: Iterable[str],
    *,
    columns: Sequence[Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The conversation new messages on each thread key should consider, by key (absent:
    none). ORM ``Conversation`` objects, or rows of ``columns`` when given. One query."""
    keys = list(keys)
    if not keys:
        return {}
    statement = _latest_statement(tuple(columns) if columns is not None else None)
    params = {"account_id": account_id, "keys": keys}
    # Rows of columns need no ORM: Core execution skips its per-execution work (the webhook
    # writer runs this every batch). ORM objects go through the session as usual.
    run = session.execute if columns is None else session.connection().execute
    rows = run(statement, params).all()

    return choose_latest(
        (
            (row._key, row._after, row._generation, row._status, row._resolved_at,
             row._last_message_at, row[0] if columns is None else row)
            for row in rows
        ),
        now=now,
    )


# What the lookup found on a key: (key, alias's after_generation or None for the key's own
# conversation, generation, status, resolved_at, last_message_at, the value to return).
Found = tuple[str, int | None, int, str, datetime | None, datetime, Any]


def choose_latest(found: Iterable[Found], *, now: datetime | None = None) -> dict[str, Any]:
    """Apply the alias rules (module docstring) to what a lookup found, by key."""
    newest: dict[str, tuple[int, Any]] = {}
    alias: dict[str, tuple[int, Any, Any]] = {}
    for key, after, generation, status, resolved_at, last_message_at, value in found:
        if after is None:
            if key not in newest or generation > newest[key][0]:
                newest[key] = (generation, value)
        else:
            state = SimpleNamespace(status=status, resolved_at=resolved_at, last_message_at=last_message_at)
            alias[key] = (after, value, state)
    now = now or utcnow()
    window = timedelta(hours=get_settings().reopen_window_hours)
    result = {key: value for key, (_, value) in newest.items()}
    for key, (after, value, target) in alias.items():
        own = newest.get(key)
        if own is not None and own[0] > after:
            continue  # the key started a conversation of its own after the alias
        if needs_new_generation(target, now, window):
            continue  # finished: never resurrected through the alias
        result[key] = value
    return result


_STATEMENTS: dict[tuple[int, ...] | None, tuple[Any, Select[Any]]] = {}


def _latest_statement(columns: tuple[Any, ...] | None) -> Select[Any]:
    """The lookup for ``columns``, built once: building the union and its subquery costs
    more than running it (the webhook writer runs it every batch). Parameters: ``account_id``
    and the expanding list ``keys``."""
    key = tuple(id(c) for c in columns) if columns is not None else None
    cached = _STATEMENTS.get(key)
    if cached is not None:
        return cached[1]
    keys = bindparam("keys", expanding=True)
    account = bindparam("account_id")
    native = select(
        Conversation.id.label("id"),
        Conversation.thread_key.label("key"),
        cast(null(), Integer).label("after"),
    ).where(Conversation.account_id == account, Conversation.thread_key.in_(keys))
    aliased = select(ThreadAlias.conversation_id, ThreadAlias.thread_key, ThreadAlias.after_generation).where(
        ThreadAlias.account_id == account, ThreadAlias.thread_key.in_(keys)
    )
    found = union_all(native, aliased).subquery("found")
    state = (
        Conversation.generation.label("_generation"),
        Conversation.status.label("_status"),
        Conversation.resolved_at.label("_resolved_at"),
        Conversation.last_message_at.label("_last_message_at"),
    )
    head = [Conversation] if columns is None else list(columns)
    statement = (
        select(*head, *state, found.c.key.label("_key"), found.c.after.label("_after"))
        .select_from(Conversation)
        .join(found, found.c.id == Conversation.id)
    )
    # The columns are kept with the statement so their ids stay theirs; callers pass the same
    # few column lists, and a caller building new ones each time only empties the cache.
    if len(_STATEMENTS) >= 16:
        _STATEMENTS.clear()
    _STATEMENTS[key] = (columns, statement)
    return statement


def set_alias(session: Session, account_id: int, thread_key: str, conversation: Conversation) -> ThreadAlias:
    """Point ``thread_key`` on the account at ``conversation`` (replacing an older alias)."""
    after = (
        session.scalar(
            select(func.max(Conversation.generation)).where(
                Conversation.account_id == account_id, Conversation.thread_key == thread_key
            )
        )
        or 0
    )
    row = session.scalar(
        select(ThreadAlias).where(ThreadAlias.account_id == account_id, ThreadAlias.thread_key == thread_key)
    )
    if row is None:
        row = ThreadAlias(account_id=account_id, thread_key=thread_key)
        session.add(row)
    row.conversation_id = conversation.id
    row.after_generation = after
    row.created_at = utcnow()
    session.flush()
    return row


def aliases_of(session: Session, conversation_id: int) -> list[ThreadAlias]:
    return list(
        session.scalars(
            select(ThreadAlias).where(ThreadAlias.conversation_id == conversation_id).order_by(ThreadAlias.id)
        )
    )
