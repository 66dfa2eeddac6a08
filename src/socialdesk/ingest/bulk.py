"""Bulk ingestion for file imports: the same rules as the Ingestor, without ORM objects.

The ORM costs several hundred microseconds per object, and a message brings up to five
(customer, identity, conversation, message, event). Here a batch is planned in plain rows,
with the conversation rules from ``conversations.threading`` applied to lightweight
conversation rows, then written with one executemany per table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from sqlalchemy import Dialect, Table, bindparam, insert, select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from socialdesk.analytics.surveys import is_survey_answer
from socialdesk.brands.models import SocialAccount
from socialdesk.config import get_settings
from socialdesk.conversations.aliases import choose_latest, latest_on_threads
from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.conversations.threading import FINISHED, place_message, record_message
from socialdesk.customers.models import Customer, Identity
from socialdesk.db.base import utcnow
from socialdesk.db.ids import IdPool
from socialdesk.ingest.service import IngestReport, record_dead_letter
from socialdesk.platforms.base import InboundMessage

# The conversation columns ingestion reads and writes; the rest keep their defaults.
STATE = (
    "status", "visibility", "last_message_at", "last_inbound_at", "first_response_at",
    "waiting_since", "resolved_at", "message_count",
)  # fmt: skip


@dataclass(slots=True)
class ConversationRow:
    id: int
    account_id: int
    thread_key: str
    generation: int
    customer_id: int | None
    status: str
    visibility: str
    last_message_at: datetime
    last_inbound_at: datetime | None
    first_response_at: datetime | None
    waiting_since: datetime | None
    resolved_at: datetime | None
    message_count: int
    new: bool = False
    dirty: bool = False


@dataclass(slots=True)
class MessageRef:
    id: int
    conversation: ConversationRow | None
    thread_key: str


_ROW_FIELDS = [f.name for f in fields(ConversationRow) if f.name not in {"new", "dirty"}]

# Built once: a statement built per batch, with its IN list coerced value by value and its cache
# key computed again, costs more than running it. The IN lists expand at execution.
_FIND_MESSAGES = select(Message.id, Message.external_id, Message.conversation_id, Message.thread_key).where(
    Message.account_id == bindparam("account_id"), Message.external_id.in_(bindparam("ids", expanding=True))
)
_LOAD_CONVERSATIONS = select(*[getattr(Conversation, f) for f in _ROW_FIELDS]).where(
    Conversation.id.in_(bindparam("ids", expanding=True))
)
_FIND_IDENTITIES = select(
    Identity.id, Identity.customer_id, Identity.external_user_id, Identity.handle, Identity.followers
).where(
    Identity.platform == bindparam("platform"),
    Identity.external_user_id.in_(bindparam("ids", expanding=True)),
)


class _Found(NamedTuple):
    id: int
    external_id: str
    conversation_id: int | None
    thread_key: str


class _Known(NamedTuple):
    id: int
    customer_id: int
    external_user_id: str
    handle: str
    followers: int


# PostgreSQL's forms of the lookups above, for ``prime_locked``'s pipeline: one array parameter
# instead of an expanding IN list, so each text is fixed and prepared once per connection.
_PG_LOCK = "SELECT pg_advisory_xact_lock(%(c)s, %(a)s)"
_PG_FIND_MESSAGES = (
    "SELECT id, external_id, conversation_id, thread_key FROM message "
    "WHERE account_id = %(account_id)s AND external_id = ANY(%(ids)s::varchar[])"
)
_PG_FIND_IDENTITIES = (
    "SELECT id, customer_id, external_user_id, handle, followers FROM identity "
    "WHERE platform = %(platform)s AND external_user_id = ANY(%(ids)s::varchar[])"
)


@lru_cache(maxsize=1)
def _pg_latest_on_threads() -> str:
    """``conversations.aliases.latest_on_threads``'s query: the conversations on the keys and
    the aliases' targets, each with its key and (for an alias) its ``after_generation``."""
    columns = ", ".join(f"c.{Conversation.__table__.c[f].name}" for f in _ROW_FIELDS)
    return (
        f"SELECT {columns}, f.key, f.after FROM conversation AS c JOIN ("
        "SELECT id, thread_key AS key, NULL::integer AS after FROM conversation "
        "WHERE account_id = %(account_id)s AND thread_key = ANY(%(keys)s::varchar[]) "
        "UNION ALL SELECT conversation_id, thread_key, after_generation FROM thread_alias "
        "WHERE account_id = %(account_id)s AND thread_key = ANY(%(keys)s::varchar[])"
        ") AS f ON f.id = c.id"
    )


class BulkIngestor:
    """Plans and writes batches of items; ``source`` names them in dead letters.

    ``id_chunk`` is how many ids to reserve at a time: small for the webhook writer's batches
    (on PostgreSQL each reserved id is a ``nextval``), large for a file import.
    """

    def __init__(self, session: Session, *, source: str = "file", id_chunk: int = 1000) -> None:
        self.session = session
        self.source = source
        settings = get_settings()
        self.max_text_bytes = settings.max_text_bytes
        self.reopen_window = timedelta(hours=settings.reopen_window_hours)
        self.ids = IdPool(session, chunk=id_chunk)
        self._messages: dict[tuple[int, str], MessageRef | None] = {}
        self._identities: dict[tuple[str, str], tuple[int, int] | None] = {}
        # Known identities' (handle, followers), to refresh them as the one-by-one Ingestor does.
        self._identity_profiles: dict[int, tuple[str, int]] = {}
        self._threads: dict[tuple[int, str], ConversationRow | None] = {}
        self._conversations: dict[int, ConversationRow] = {}
        # PostgreSQL statements waiting to be sent together, while ``finish`` writes a batch.
        self._pipelined: list[tuple[str, tuple[Any, ...]]] = []
        self._finishing = False
        self._reset_batch()

    def _reset_batch(self) -> None:
        self._customers: list[dict[str, Any]] = []
        self._new_identities: list[dict[str, Any]] = []
        self._new_conversations: list[ConversationRow] = []
        self._conversation_extras: dict[int, dict[str, Any]] = {}
        self._new_messages: list[dict[str, Any]] = []
        self._events: list[dict[str, Any]] = []
        self._identity_updates: dict[int, dict[str, Any]] = {}
        self._customer_followers: dict[int, int] = {}

    # --- loading what a batch refers to, one query per kind --------------------------

    def _core(self, statement: Any, params: dict[str, Any]) -> Any:
        # Plain Core execution on the session's connection: these read columns, not ORM
        # objects, and the ORM's per-execution work costs more than the query. (Nothing the
        # lookups read is pending in the session: they run before anything is planned.)
        return self.session.connection().execute(statement, params)

    def prime(self, account: SocialAccount, items: Iterable[InboundMessage]) -> None:
        items = list(items)
        wanted, authors, keys = self._wanted(account, items)
        found: list[Any] = []
        for chunk in _chunks(sorted(wanted)):
            found.extend(self._core(_FIND_MESSAGES, {"account_id": account.id, "ids": chunk}))
        self._take_messages(account, wanted, found)
        known: list[Any] = []
        for chunk in _chunks(sorted(authors)):
            known.extend(self._core(_FIND_IDENTITIES, {"platform": account.platform, "ids": chunk}))
        self._take_identities(account, authors, known)
        latest: dict[str, Any] = {}
        columns = [getattr(Conversation, f) for f in _ROW_FIELDS]
        for chunk in _chunks(sorted(keys)):
            # Thread aliases (a handoff's DM thread) count: see conversations.aliases.
            latest.update(latest_on_threads(self.session, account.id, chunk, columns=columns))
        self._take_threads(account, keys, {k: row._mapping for k, row in latest.items()})

    def prime_locked(
        self, accounts: list[int], batches: list[tuple[SocialAccount, list[InboundMessage]]], lock_class: int
    ) -> None:
        """PostgreSQL: take the accounts' advisory locks (``lock_class``, in id order) and
        ``prime`` every account's items, all in ONE round trip. The server runs the pipeline
        in order, so each lookup starts after the locks are held and sees what the writer
        before us committed (READ COMMITTED takes a snapshot per statement)."""
        import psycopg

        plans = [(account, items, *self._wanted(account, items)) for account, items in batches if items]
        raw = self.session.connection().connection.driver_connection
        sql, params = "", {}
        results = []
        try:
            with raw.pipeline():  # type: ignore[union-attr]
                for account_id in sorted(accounts):
                    sql, params = _PG_LOCK, {"c": lock_class, "a": account_id}
                    raw.execute(sql, params)  # type: ignore[union-attr]
                for account, _, wanted, authors, keys in plans:
                    lookups = [
                        (_PG_FIND_MESSAGES, {"account_id": account.id, "ids": sorted(wanted)}),
                        (_PG_FIND_IDENTITIES, {"platform": account.platform, "ids": sorted(authors)}),
                        (_pg_latest_on_threads(), {"account_id": account.id, "keys": sorted(keys)}),
                    ]
                    # Not prepared: a generic plan cannot know how many values the arrays
                    # hold, and PostgreSQL's can be much worse than planning each time.
                    results.append(
                        [raw.execute(sql, params, prepare=False) for sql, params in lookups]  # type: ignore[union-attr]
                    )
            rows = [[cursor.fetchall() for cursor in cursors] for cursors in results]
        except psycopg.Error as exc:
            raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
        for plan, (messages, identities, threads) in zip(plans, rows, strict=True):
            account, _, wanted, authors, keys = plan
            self._take_messages(account, wanted, [_Found(*r) for r in messages])
            self._take_identities(account, authors, [_Known(*r) for r in identities])
            width = len(_ROW_FIELDS)
            values = [dict(zip(_ROW_FIELDS, r[:width], strict=True)) for r in threads]
            latest = choose_latest(
                (r[width], r[width + 1], v["generation"], v["status"], v["resolved_at"],
                 v["last_message_at"], v)
                for r, v in zip(threads, values, strict=True)
            )
            self._take_threads(account, keys, latest)

    def _wanted(
        self, account: SocialAccount, items: list[InboundMessage]
    ) -> tuple[set[str], set[str], set[str]]:
        """What a batch's items refer to and this ingestor does not know yet: message external
        ids (the items and their parents), inbound authors, and thread keys."""
        wanted = {i.external_id for i in items} | {
            i.reply_to_external_id for i in items if i.reply_to_external_id
        }
        wanted = {e for e in wanted if (account.id, e) not in self._messages}
        authors = {i.author_id for i in items if i.direction == "inbound"}
        authors = {a for a in authors if (account.platform, a) not in self._identities}
        keys = {i.thread_key for i in items} - {k for a, k in self._threads if a == account.id}
        return wanted, authors, keys

    def _take_messages(self, account: SocialAccount, wanted: set[str], rows: Iterable[Any]) -> None:
        found = {row.external_id: (row.id, row.conversation_id, row.thread_key) for row in rows}
        self._load_conversations({c for _, c, _ in found.values() if c is not None})
        for ext in wanted:
            hit = found.get(ext)
            self._messages[(account.id, ext)] = (
                MessageRef(hit[0], self._conversations.get(hit[1]) if hit[1] else None, hit[2])
                if hit
                else None
            )

    def _take_identities(self, account: SocialAccount, authors: set[str], rows: Iterable[Any]) -> None:
        known: dict[str, tuple[int, int]] = {}
        for row in rows:
            known[row.external_user_id] = (row.id, row.customer_id)
            self._identity_profiles[row.id] = (row.handle, row.followers)
        for author in authors:
            self._identities[(account.platform, author)] = known.get(author)

    def _take_threads(
        self, account: SocialAccount, keys: set[str], latest: dict[str, Mapping[str, Any]]
    ) -> None:
        remembered = {key: self._remember(values) for key, values in latest.items()}
        for key in keys:
            self._threads[(account.id, key)] = remembered.get(key)

    def reserve_ids(self, batches: list[tuple[SocialAccount, list[InboundMessage]]]) -> None:
        """After ``prime``: reserve, in one statement, about the ids these items will take.

        New customers and conversations are counted from what ``prime`` found, so on
        PostgreSQL few sequence values go unused; an underestimate only costs a later reserve.
        """
        messages = authors = threads = 0
        seen_authors: set[tuple[str, str]] = set()
        seen_threads: set[tuple[int, str]] = set()
        for account, items in batches:
            messages += len(items)
            for item in items:
                author = (account.platform, item.author_id)
                if item.direction == "inbound" and author not in seen_authors:
                    seen_authors.add(author)
                    authors += self._identities.get(author) is None
                thread = (account.id, item.thread_key)
                if thread not in seen_threads:
                    seen_threads.add(thread)
                    latest = self._threads.get(thread)
                    threads += latest is None or latest.status in FINISHED
        self.ids.reserve_ahead(
            {"message": messages, "customer": authors, "identity": authors, "conversation": threads,
             "conversation_event": messages + threads}
        )  # fmt: skip

    def _load_conversations(self, ids: set[int]) -> None:
        missing = sorted(i for i in ids if i not in self._conversations)
        for chunk in _chunks(missing):
            for row in self._core(_LOAD_CONVERSATIONS, {"ids": chunk}):
                self._remember(row._mapping)

    def _remember(self, values: Mapping[str, Any]) -> ConversationRow:
        existing = self._conversations.get(values["id"])
        if existing is None:
            existing = ConversationRow(**{f: values[f] for f in _ROW_FIELDS})
            self._conversations[existing.id] = existing
        return existing

    # --- planning --------------------------------------------------------------------

    def store(self, account: SocialAccount, item: InboundMessage, report: IngestReport) -> None:
        if len(item.text.encode("utf-8", errors="replace")) > self.max_text_bytes:
            record_dead_letter(
                self.session, source=self.source, platform=account.platform, account_slug=account.slug,
                reason=f"text of message {item.external_id} is larger than {self.max_text_bytes} bytes",
                payload=str(item.raw)[:10_000],
            )  # fmt: skip
            report.dead_letters += 1
            return
        key = (account.id, item.external_id)
        if self._messages.get(key) is not None:
            report.duplicates += 1
            return
        customer_id = self._customer(account, item, report) if item.direction == "inbound" else None
        parent = (
            self._messages.get((account.id, item.reply_to_external_id)) if item.reply_to_external_id else None
        )
        placement = place_message(
            direction=item.direction,
            at=item.sent_at,
            thread_key=item.thread_key,
            addressed_to_brand=item.addressed_to_brand,
            parent=(parent.conversation, parent.thread_key) if parent else None,
            latest=lambda k: self._threads.get((account.id, k)),
            reopen_window=self.reopen_window,
            # A known customer's rating reply to a survey answers it instead of reopening.
            answers_survey=(
                (lambda c: is_survey_answer(self.session, c, customer_id, item.text, item.sent_at))
                if customer_id is not None
                else None
            ),
        )
        conversation: ConversationRow | None = None
        if placement is not None:
            conversation = placement.conversation or self._new_conversation(
                account, item, placement.thread_key, placement.generation, customer_id, report
            )
        message_id = self.ids.next("message")
        kind = "message" if conversation else ("mention" if item.direction == "inbound" else "post")
        self._new_messages.append(
            {
                "id": message_id, "account_id": account.id, "platform": account.platform,
                "conversation_id": conversation.id if conversation else None,
                "customer_id": customer_id if customer_id is not None else (
                    conversation.customer_id if conversation else None
                ),
                "direction": item.direction, "kind": kind, "external_id": item.external_id,
                "thread_key": placement.thread_key if placement else item.thread_key,
                "reply_to_external_id": item.reply_to_external_id, "author_external_id": item.author_id,
                "author_handle": item.author_handle, "author_name": item.author_name, "text": item.text,
                "is_public": item.is_public, "sent_at": item.sent_at, "received_at": utcnow(),
                "language": item.language_hint, "raw": item.raw,
                "delivery_status": "sent" if item.direction == "outbound" else "",
            }
        )  # fmt: skip
        if conversation is not None:
            for spec in record_message(
                conversation, direction=item.direction, at=item.sent_at, is_public=item.is_public,
                external_id=item.external_id, survey_answer=placement is not None and placement.survey_answer,
            ):  # fmt: skip
                self._event(conversation.id, spec.kind, spec.at, spec.data)
            conversation.dirty = True
        self._messages[key] = MessageRef(
            message_id, conversation, placement.thread_key if placement else item.thread_key
        )
        report.messages += 1
        report.message_ids.append(message_id)
        if kind == "mention":
            report.mentions += 1

    def _customer(self, account: SocialAccount, item: InboundMessage, report: IngestReport) -> int:
        key = (account.platform, item.author_id)
        known = self._identities.get(key)
        if known is not None:
            self._refresh_identity(known, item)
            return known[1]
        customer_id, identity_id = self.ids.next("customer"), self.ids.next("identity")
        now = utcnow()
        self._customers.append(
            {"id": customer_id, "name": item.author_name or item.author_handle,
             "followers": item.author_followers, "created_at": now}
        )  # fmt: skip
        self._new_identities.append(
            {"id": identity_id, "customer_id": customer_id, "platform": account.platform,
             "external_user_id": item.author_id, "handle": item.author_handle,
             "display_name": item.author_name, "followers": item.author_followers, "created_at": now}
        )  # fmt: skip
        self._identities[key] = (identity_id, customer_id)
        self._identity_profiles[identity_id] = (item.author_handle, item.author_followers)
        report.customers += 1
        return customer_id

    def _refresh_identity(self, known: tuple[int, int], item: InboundMessage) -> None:
        """A newer handle or follower count from the platform replaces the stored one."""
        identity_id, customer_id = known
        handle, followers = self._identity_profiles.get(identity_id, (item.author_handle, 0))
        changes: dict[str, Any] = {}
        if item.author_handle and item.author_handle != handle:
            changes["handle"] = handle = item.author_handle
        if item.author_followers and item.author_followers != followers:
            changes["followers"] = followers = item.author_followers
            self._customer_followers[customer_id] = max(
                self._customer_followers.get(customer_id, 0), item.author_followers
            )
        if changes:
            self._identity_profiles[identity_id] = (handle, followers)
            self._identity_updates.setdefault(identity_id, {}).update(changes)

    def _new_conversation(
        self, account: SocialAccount, item: InboundMessage, thread_key: str, generation: int,
        customer_id: int | None, report: IngestReport,
    ) -> ConversationRow:  # fmt: skip
        conversation = ConversationRow(
            id=self.ids.next("conversation"), account_id=account.id, thread_key=thread_key,
            generation=generation, customer_id=customer_id, status="new",
            visibility="public" if item.is_public else "private", last_message_at=item.sent_at,
            last_inbound_at=None, first_response_at=None, waiting_since=None, resolved_at=None,
            message_count=0, new=True,
        )  # fmt: skip
        self._conversation_extras[conversation.id] = {
            "brand_id": account.brand_id, "platform": account.platform, "language": item.language_hint,
            "subject": item.text[:200], "first_message_at": item.sent_at, "created_at": utcnow(),
        }  # fmt: skip
        self._new_conversations.append(conversation)
        self._conversations[conversation.id] = conversation
        self._threads[(account.id, thread_key)] = conversation
        self._event(
            conversation.id, "created", item.sent_at, {"thread_key": thread_key, "platform": account.platform}
        )
        report.conversations += 1
        return conversation

    def _event(self, conversation_id: int, kind: str, at: datetime, data: dict[str, Any]) -> None:
        self._events.append(
            {"id": self.ids.next("conversation_event"), "conversation_id": conversation_id, "kind": kind,
             "at": at, "actor_agent_id": None, "data": data}
        )  # fmt: skip

    # --- writing -----------------------------------------------------------------------

    def finish(self, report: IngestReport) -> None:
        """Write the planned batch: one statement per table, in foreign-key order. On
        PostgreSQL they are sent together and answered together (one round trip)."""
        execute = self.session.execute
        self._finishing = True
        try:
            self._write_rows(execute)
        finally:
            self._finishing = False
            self._pipelined = []
        self._write_profiles()
        for conversation in self._conversations.values():
            conversation.dirty = conversation.new = False
        self._reset_batch()

    def _write_rows(self, execute: Callable[..., Any]) -> None:
        if self._customers:
            self._insert(Customer.__table__, self._customers)
            self._insert(Identity.__table__, self._new_identities)
        if self._new_conversations:
            self._insert(
                Conversation.__table__,
                [
                    {**{f: getattr(c, f) for f in _ROW_FIELDS}, **self._conversation_extras[c.id]}
                    for c in self._new_conversations
                ],
            )
        new_ids = {c.id for c in self._new_conversations}
        if self._new_messages:
            self._insert(Message.__table__, self._new_messages)
        # New rows went in with their final state; only earlier conversations need an UPDATE.
        changed = [c for c in self._conversations.values() if c.dirty and c.id not in new_ids]
        if changed:
            table = Conversation.__table__
            connection = self.session.connection()
            if connection.dialect.name == "postgresql":
                # One statement over arrays instead of a statement per conversation.
                sql, plan = _update_plan(table, STATE, connection.dialect)
                params = [[c.id for c in changed]] + [
                    [process(getattr(c, f)) if process else getattr(c, f) for c in changed]
                    for f, process in plan
                ]
                self._pipelined.append((sql, tuple(params)))
            else:
                values = {f: bindparam(f) for f in STATE}
                execute(
                    update(table).where(table.c.id == bindparam("b_id")).values(values),
                    [{"b_id": c.id, **{f: getattr(c, f) for f in STATE}} for c in changed],
                    execution_options={"synchronize_session": False},
                )
        if self._events:
            self._insert(ConversationEvent.__table__, self._events)
        if self._pipelined:
            self._send_pipelined()

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Insert rows of one shape, converted by the columns' own SQLAlchemy bind processors
        and defaults, straight to the driver: SQLAlchemy's per-row parameter handling costs
        more than the database's insert. SQLite takes them as one executemany; PostgreSQL as
        one INSERT over arrays (its executemany runs a statement per row). Rows of mixed shapes
        and other databases go through SQLAlchemy's executemany."""
        connection = self.session.connection()
        dialect = connection.dialect
        keys = rows[0].keys()
        if dialect.name not in ("sqlite", "postgresql") or any(row.keys() != keys for row in rows):
            self.session.execute(insert(table), rows)
            return
        head, plan = _insert_plan(table, tuple(keys), dialect)
        columns = []
        for key, default, process in plan:
            values = [row[key] for row in rows] if key is not None else [default() for _ in rows]
            columns.append([process(v) for v in values] if process is not None else values)
        if dialect.name == "sqlite":
            tuples = list(zip(*columns, strict=True))
            connection.exec_driver_sql(f"{head} VALUES ({', '.join('?' * len(plan))})", tuples)
            return
        # PostgreSQL: INSERT ... SELECT FROM unnest(one array per column). A multi-row VALUES
        # list's text grows with its rows, so the driver parses it and the server plans it
        # again every batch; this text is fixed, prepared once per connection.
        self._pipelined.append((head, tuple(columns)))
        if not self._finishing:
            self._send_pipelined()

    def _send_pipelined(self) -> None:
        """Run the batch's PostgreSQL statements in the session's transaction, sent together
        (psycopg's pipeline mode) instead of waiting for each answer in turn."""
        import psycopg

        raw = self.session.connection().connection.driver_connection
        sql, params = "", ()
        try:
            with raw.pipeline(), raw.cursor() as cursor:  # type: ignore[union-attr]
                for sql, params in self._pipelined:
                    cursor.execute(sql, params)
        except psycopg.Error as exc:
            # As SQLAlchemy would have raised it (a unique race is an IntegrityError to retry).
            raise DBAPIError.instance(sql, params, exc, psycopg.Error) from exc
        finally:
            self._pipelined = []

    def _write_profiles(self) -> None:
        """Refreshed identities, and their customers' follower counts (never lowered)."""
        identities = Identity.__table__
        for identity_id, changes in self._identity_updates.items():
            self.session.execute(update(identities).where(identities.c.id == identity_id).values(**changes))
        customers = Customer.__table__
        for customer_id, followers in self._customer_followers.items():
            self.session.execute(
                update(customers)
                .where(customers.c.id == customer_id, customers.c.followers < followers)
                .values(followers=followers)
            )


@lru_cache(maxsize=64)
def _insert_plan(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[tuple[str | None, Callable[[], Any] | None, Callable[[Any], Any] | None]]]:
    """``INSERT INTO t (columns)`` (SQLite: to add ``VALUES``; PostgreSQL: selecting from one
    array parameter per column) for ``keys`` plus the columns SQLAlchemy would fill
    from Python-side defaults, and per column (key or None, default, bind processor)."""
    plan: list[tuple[str | None, Callable[[], Any] | None, Callable[[Any], Any] | None]] = []
    names: list[str] = []
    types: list[str] = []
    for column in table.columns:
        default: Callable[[], Any] | None = None
        if column.key not in keys:
            spec = column.default
            if spec is None or not (spec.is_scalar or spec.is_callable):  # type: ignore[attr-defined]
                continue  # NULL or the server's default, as SQLAlchemy leaves it
            arg = spec.arg  # type: ignore[attr-defined]
            default = (lambda a=arg: a(None)) if spec.is_callable else (lambda a=arg: a)  # type: ignore[attr-defined]
        names.append(dialect.identifier_preparer.quote(column.name))
        types.append(column.type.compile(dialect))
        # The dialect's implementation of the type, as SQLAlchemy binds it (TypeDecorators included).
        process = column.type.dialect_impl(dialect).bind_processor(dialect)
        plan.append((column.key if default is None else None, default, process))
    table_name = dialect.identifier_preparer.format_table(table)
    head = f"INSERT INTO {table_name} ({', '.join(names)})"
    if dialect.name == "postgresql":
        arrays = ", ".join(f"%s::{t}[]" for t in types)
        return f"{head} SELECT * FROM unnest({arrays})", plan
    return head, plan


@lru_cache(maxsize=8)
def _update_plan(
    table: Table, keys: tuple[str, ...], dialect: Dialect
) -> tuple[str, list[tuple[str, Callable[[Any], Any] | None]]]:
    """PostgreSQL: ``UPDATE t SET k = v.k ... FROM unnest(arrays) AS v WHERE t.id = v.id``, one
    array parameter for the ids and one per key, and each key's bind processor."""
    quote = dialect.identifier_preparer.quote
    columns = [table.c.id] + [table.c[k] for k in keys]
    arrays = ", ".join(f"%s::{c.type.compile(dialect)}[]" for c in columns)
    names = ", ".join(quote(c.name) for c in columns)
    sets = ", ".join(f"{quote(table.c[k].name)} = v.{quote(table.c[k].name)}" for k in keys)
    table_name = dialect.identifier_preparer.format_table(table)
    sql = (
        f"UPDATE {table_name} SET {sets} FROM unnest({arrays}) AS v({names}) "
        f"WHERE {table_name}.id = v.id"
    )
    plan = [(k, table.c[k].type.dialect_impl(dialect).bind_processor(dialect)) for k in keys]
    return sql, plan


def _chunks(values: list[Any], size: int = 500) -> Iterable[list[Any]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
