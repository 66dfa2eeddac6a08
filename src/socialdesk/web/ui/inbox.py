"""What the inbox shows: views with counts, the filtered and sorted list, one conversation.

Read-only queries for the desk's pages; every change goes through the domains' own
service functions (``conversations.actions``, ``routing``, ``outbox``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, case, exists, func, literal, or_, select, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from socialdesk.auth.service import Principal
from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.config import get_settings
from socialdesk.conversations.models import (
    PRIORITIES,
    STATUSES,
    Conversation,
    ConversationEvent,
    Message,
    Note,
)
from socialdesk.customers.models import Customer
from socialdesk.db.base import utcnow
from socialdesk.listening import crisis
from socialdesk.routing.models import Agent, Team, team_membership
from socialdesk.web.ui.cache import remembered

ACTIVE_STATUSES = ("new", "open", "pending")
# How long the shared view counts are reused (see web/ui/cache.py).
COUNTS_SECONDS = 5.0
SENTIMENTS = ("negative", "neutral", "positive")
SORTS = {"sla": "SLA due", "priority": "Priority", "newest": "Newest"}
FILTER_FIELDS = (
    "platform",
    "brand",
    "language",
    "sentiment",
    "issue_type",
    "status",
    "priority",
    "label",
    "assignee",
)
PAGE_SIZE = 50
# The list is read along one of these (see _walk_index): each leads with its sort key and id, then
# carries every column a view or filter compares, so the filters are checked in the index alone.
FIRST_DUE_INDEX = "ix_conversation_first_due_cover"
NEXT_DUE_INDEX = "ix_conversation_next_due_cover"
RECENT_INDEX = "ix_conversation_recent_cover"
PRIORITY_INDEX = "ix_conversation_priority_cover"
LABELLED_INDEX = "ix_conversation_labelled"
# The SLA countdown turns amber with less than this left, red at breach.
AMBER_SECONDS = 30 * 60


class InboxError(ValueError):
    """A view, filter or sort the page cannot use; the message says what is allowed."""


@dataclass(slots=True)
class InboxQuery:
    view: str = "all_open"
    filters: dict[str, str] = field(default_factory=dict)
    sort: str = "sla"

    @classmethod
    def from_params(cls, params: dict[str, str]) -> InboxQuery:
        filters = {k: v.strip() for k, v in params.items() if k in FILTER_FIELDS and v and v.strip()}
        sort = params.get("sort") or "sla"
        if sort not in SORTS:
            raise InboxError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
        if filters.get("status") and filters["status"] not in STATUSES:
            raise InboxError(f"unknown status {filters['status']!r}; expected one of {', '.join(STATUSES)}")
        if filters.get("priority") and filters["priority"] not in PRIORITIES:
            raise InboxError(f"unknown priority {filters['priority']!r}")
        if filters.get("sentiment") and filters["sentiment"] not in SENTIMENTS:
            raise InboxError(f"unknown sentiment {filters['sentiment']!r}")
        return cls(view=params.get("view") or "all_open", filters=filters, sort=sort)

    def params(self, **override: str) -> dict[str, str]:
        out = {"view": self.view, "sort": self.sort, **self.filters}
        out.update(override)
        return {k: v for k, v in out.items() if v}


@dataclass(slots=True)
class InboxRow:
    conversation: Conversation
    customer_name: str
    customer_handle: str
    preview: str
    assignee: str
    sla_due_at: datetime | None
    sla_state: str  # "", "ok", "amber", "red"


def json_list_contains(session: Session, column: Any, value: Any) -> Any:
    """SQL: the JSON array in ``column`` holds ``value`` (PostgreSQL jsonb @>, SQLite json_each)."""
    if session.get_bind().dialect.name == "postgresql":
        # A jsonb-typed literal: a cast of a string parameter would bind the JSON text
        # serialized once more (a JSON string, which no array contains).
        return column.op("@>")(literal([value], type_=JSONB))
    each = func.json_each(column).table_valued("value")
    return exists(select(literal(1)).select_from(each).where(each.c.value == value))


def sla_due_expression() -> Any:
    """The next SLA deadline: first response while unanswered, else next response."""
    return case(
        (Conversation.first_response_at.is_(None), Conversation.first_response_due_at),
        else_=Conversation.next_response_due_at,
    )


def sla_state(due: datetime | None, now: datetime) -> str:
    if due is None:
        return ""
    left = (due - now).total_seconds()
    if left <= 0:
        return "red"
    return "amber" if left <= AMBER_SECONDS else "ok"


def _view_clause(session: Session, view: str, principal: Principal) -> tuple[Any, bool]:
    """(where clause, whether the view is limited to active statuses)."""
    if view == "mine":
        return Conversation.assignee_id == (principal.agent_id or -1), True
    if view == "unassigned":
        return Conversation.assignee_id.is_(None), True
    if view == "all_open":
        return None, True
    if view == "all":
        return None, False
    if view == "mentions":
        if principal.agent_id is None:
            return literal(False), False
        mentioned = select(Note.conversation_id).where(
            json_list_contains(session, Note.mentions, principal.agent_id)
        )
        return Conversation.id.in_(mentioned), False
    if view.startswith("team:") and view[5:].isdigit():
        return Conversation.team_id == int(view[5:]), True
    if view.startswith("label:") and view[6:]:
        return json_list_contains(session, Conversation.labels, view[6:]), True
    raise InboxError(f"unknown view {view!r}")


def filtered_query(session: Session, query: Select, q: InboxQuery, principal: Principal) -> Select:
    clause, active_only = _view_clause(session, q.view, principal)
    if clause is not None:
        query = query.where(clause)
    f = q.filters
    if f.get("status"):
        query = query.where(Conversation.status == f["status"])
    elif active_only:
        query = query.where(Conversation.status.in_(ACTIVE_STATUSES))
    if f.get("platform"):
        query = query.where(Conversation.platform == f["platform"])
    if f.get("brand"):
        brand_id = session.scalar(select(Brand.id).where(Brand.slug == f["brand"]))
        if brand_id is None:
            raise InboxError(f"no brand named {f['brand']!r}")
        query = query.where(Conversation.brand_id == brand_id)
    for name in ("language", "sentiment", "issue_type", "priority"):
        if f.get(name):
            query = query.where(getattr(Conversation, name) == f[name])
    if f.get("label"):
        query = query.where(json_list_contains(session, Conversation.labels, f["label"]))
    if f.get("assignee"):
        if f["assignee"] == "none":
            query = query.where(Conversation.assignee_id.is_(None))
        elif f["assignee"].isdigit():
            query = query.where(Conversation.assignee_id == int(f["assignee"]))
        else:
            raise InboxError("assignee must be an agent id or 'none'")
    return query


def _newest(query: Select) -> Select:
    return query.order_by(Conversation.last_message_at.desc(), Conversation.id.desc())


def _ordered_ids(session: Session, query: Select, q: InboxQuery, limit: int) -> list[Conversation]:
    """The page in the chosen order, built from index-ordered queries with LIMIT, never a sort of
    every matching row: each clock (first response, next response) has its own due-time index,
    and each priority level is read newest first and concatenated."""
    # One agent's queue is small: the planner's assignee index plus a sort wins there.
    walk = not (q.view == "mine" or (q.filters.get("assignee") or "").isdigit())
    if q.sort == "newest":
        return _walk_index(session, _newest(query), RECENT_INDEX, limit, walk)
    if q.sort == "priority":
        levels = [q.filters["priority"]] if q.filters.get("priority") else list(PRIORITIES)
        out: list[Conversation] = []
        for level in levels:
            if len(out) >= limit:
                break
            level_query = _newest(query.where(Conversation.priority == level))
            out += _walk_index(session, level_query, PRIORITY_INDEX, limit - len(out), walk)
        return out
    unanswered = Conversation.first_response_at.is_(None)
    first = query.where(unanswered, Conversation.first_response_due_at.is_not(None)).order_by(
        Conversation.first_response_due_at, Conversation.id
    )
    following = query.where(~unanswered, Conversation.next_response_due_at.is_not(None)).order_by(
        Conversation.next_response_due_at, Conversation.id
    )
    timed = _walk_index(session, first, FIRST_DUE_INDEX, limit, walk)
    timed += _walk_index(session, following, NEXT_DUE_INDEX, limit, walk)
    timed.sort(key=lambda c: (_due(c), c.id))
    out = timed[:limit]
    if len(out) < limit:
        # Conversations with no SLA clock come after every timed one, newest first.
        untimed = query.where(
            or_(
                and_(unanswered, Conversation.first_response_due_at.is_(None)),
                and_(~unanswered, Conversation.next_response_due_at.is_(None)),
            )
        )
        out += _walk_index(session, _newest(untimed), RECENT_INDEX, limit - len(out), walk)
    return out


def _walk_index(
    session: Session, query: Select, index: str, limit: int, walk: bool = True
) -> list[Conversation]:
    """The first ``limit`` rows of ``query`` in due-time order, read along the due-time index.

    SQLite's planner prefers a filter's index (say, unassigned) and then sorts every match:
    100+ ms on a large desk, where walking the sort-key index and filtering takes well under
    a millisecond. The walk indexes cover every filtered column, so a selective combination
    (negative + X + German: 0.6 % of the active desk) costs a scan of small index entries,
    not a table lookup per skipped row (that was 40-140 ms). SQLAlchemy renders no table
    hints for SQLite, so the ids come from the same statement with ``INDEXED BY`` added;
    the rows are then loaded by id.
    """
    if not walk or session.get_bind().dialect.name != "sqlite":
        return list(session.scalars(query.limit(limit)))
    found = _rows_along(session, query.with_only_columns(Conversation.id).limit(limit), index)
    if found is None:  # the index is missing (an old schema): let the planner choose
        return list(session.scalars(query.limit(limit)))
    ids = [row[0] for row in found]
    if not ids:
        return []
    # By id alone: the walk applied the filters, and with them the planner may prefer a
    # status-led index over the 50 primary-key lookups.
    by_id = select(Conversation).where(Conversation.id.in_(ids)).options(selectinload(Conversation.customer))
    rows = {c.id: c for c in session.scalars(by_id)}
    return [rows[i] for i in ids if i in rows]


def _rows_along(session: Session, query: Select, index: str) -> list[Any] | None:
    """SQLite: the rows of ``query`` read along ``index`` (INDEXED BY on the conversation table);
    None if that index does not exist."""
    sql = str(query.compile(dialect=session.get_bind().dialect, compile_kwargs={"literal_binds": True}))
    hinted = sql.replace("FROM conversation", f"FROM conversation INDEXED BY {index}", 1)
    try:
        with session.begin_nested():
            return list(session.execute(text(hinted)))
    except OperationalError:
        return None


def _due(c: Conversation) -> datetime:
    due = c.first_response_due_at if c.first_response_at is None else c.next_response_due_at
    assert due is not None
    return due


def list_inbox(
    session: Session,
    principal: Principal,
    q: InboxQuery,
    *,
    limit: int = PAGE_SIZE,
    now: datetime | None = None,
) -> list[InboxRow]:
    now = now or utcnow()
    query = filtered_query(session, select(Conversation), q, principal).options(
        selectinload(Conversation.customer)
    )
    return rows_for(session, _ordered_ids(session, query, q, limit), now)


def rows_for(session: Session, conversations: list[Conversation], now: datetime) -> list[InboxRow]:
    ids = [c.id for c in conversations]
    previews: dict[int, str] = {}
    handles: dict[int, tuple[str, str]] = {}
    if ids:
        newest = (
            select(func.max(Message.id))
            .where(Message.conversation_id.in_(ids), Message.direction == "inbound")
            .group_by(Message.conversation_id)
        )
        for m in session.execute(
            select(Message.conversation_id, Message.text, Message.author_name, Message.author_handle).where(
                Message.id.in_(newest)
            )
        ):
            previews[m.conversation_id] = (m.text or "").strip().splitlines()[0] if m.text.strip() else ""
            handles[m.conversation_id] = (m.author_name, m.author_handle)
    agent_ids = {c.assignee_id for c in conversations if c.assignee_id}
    agents = (
        dict(session.execute(select(Agent.id, Agent.name).where(Agent.id.in_(agent_ids))).all())
        if agent_ids
        else {}
    )
    rows = []
    for c in conversations:
        author_name, author_handle = handles.get(c.id, ("", ""))
        due = c.first_response_due_at if c.first_response_at is None else c.next_response_due_at
        if c.status not in ACTIVE_STATUSES:
            due = None
        rows.append(
            InboxRow(
                conversation=c,
                customer_name=(c.customer.name if c.customer and c.customer.name else author_name)
                or "Unknown",
                customer_handle=author_handle,
                preview=previews.get(c.id, c.subject),
                assignee=agents.get(c.assignee_id, "") if c.assignee_id else "",
                sla_due_at=due,
                sla_state=sla_state(due, now),
            )
        )
    return rows


def count_view(session: Session, principal: Principal, view: str) -> int:
    query = filtered_query(session, select(func.count(Conversation.id)), InboxQuery(view=view), principal)
    return session.scalar(query) or 0


@dataclass(slots=True)
class ViewLink:
    key: str
    label: str
    count: int
    group: str = "Views"


def views_for(
    session: Session, principal: Principal, saved: list[tuple[str, str]] | None = None
) -> list[ViewLink]:
    """The left column: standard views, the agent's teams, labels in use, saved filters."""

    def shared_counts() -> dict[str, Any]:
        # The same for every agent, and full-table work on a large desk: remembered briefly.
        return {
            "unassigned": count_view(session, principal, "unassigned"),
            "all_open": count_view(session, principal, "all_open"),
            "all": count_view(session, principal, "all"),
            "teams": dict(
                session.execute(
                    select(Conversation.team_id, func.count(Conversation.id))
                    .where(Conversation.status.in_(ACTIVE_STATUSES), Conversation.team_id.is_not(None))
                    .group_by(Conversation.team_id)
                ).all()
            ),
            "labels": label_counts(session),
        }

    shared = remembered((get_settings().resolved_database_url, "views"), COUNTS_SECONDS, shared_counts)
    links = [
        ViewLink("mine", "Mine", count_view(session, principal, "mine")),
        ViewLink("unassigned", "Unassigned", shared["unassigned"]),
        ViewLink("all_open", "All open", shared["all_open"]),
        ViewLink("mentions", "Mentions", count_view(session, principal, "mentions")),
        ViewLink("all", "Everything", shared["all"]),
    ]
    team_query = select(Team.id, Team.name).order_by(Team.name)
    if principal.role == "agent" and principal.agent_id is not None:
        team_query = team_query.join(team_membership).where(team_membership.c.agent_id == principal.agent_id)
    team_counts = shared["teams"]
    for team_id, name in session.execute(team_query):
        links.append(ViewLink(f"team:{team_id}", name, team_counts.get(team_id, 0), "Team queues"))
    for label, count in shared["labels"]:
        links.append(ViewLink(f"label:{label}", label, count, "Labels"))
    return links


def label_counts(session: Session, limit: int = 20) -> list[tuple[str, int]]:
    """Labels on active conversations with their counts, most used first: one grouped query."""
    active = Conversation.status.in_(ACTIVE_STATUSES)
    # Written as the partial index ix_conversation_labelled's condition (a literal, not a bound
    # parameter), so it can be read instead of every active conversation. SQLite's planner
    # prefers any index that leads with status (80,000 table lookups, 250 ms at 200,000
    # conversations), so there the query names the index.
    if session.get_bind().dialect.name == "postgresql":
        label = func.jsonb_array_elements_text(Conversation.labels).table_valued("value").render_derived()
        labelled = text("conversation.labels != '[]'::jsonb")
    else:
        label = func.json_each(Conversation.labels).table_valued("value")
        labelled = text("conversation.labels != '[]'")
    query = (
        select(label.c.value, func.count())
        .select_from(Conversation)
        .join(label, literal(True))
        .where(active, labelled)
        .group_by(label.c.value)
        .order_by(func.count().desc(), label.c.value)
        .limit(limit)
    )
    sqlite = session.get_bind().dialect.name == "sqlite"
    rows = _rows_along(session, query, LABELLED_INDEX) if sqlite else None
    return [(str(v), int(n)) for v, n in (rows if rows is not None else session.execute(query))]


def filter_choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    brands = session.execute(select(Brand.slug, Brand.name).order_by(Brand.name)).all()
    agents = session.execute(select(Agent.id, Agent.name).where(Agent.active).order_by(Agent.name)).all()
    platforms = session.scalars(
        select(SocialAccount.platform).distinct().order_by(SocialAccount.platform)
    ).all()
    return {
        "platform": [(p, p) for p in platforms],
        "brand": [(slug, name) for slug, name in brands],
        "sentiment": [(s, s) for s in SENTIMENTS],
        "status": [(s, s) for s in STATUSES],
        "priority": [(p, p) for p in PRIORITIES],
        "assignee": [("none", "unassigned")] + [(str(i), n) for i, n in agents],
    }


@dataclass(slots=True)
class ThreadItem:
    """A message or a note, in time order."""

    at: datetime
    message: Message | None = None
    note: Note | None = None
    note_author: str = ""
    event: ConversationEvent | None = None


@dataclass(slots=True)
class ConversationView:
    conversation: Conversation
    items: list[ThreadItem]
    customer: Customer | None
    past: list[Conversation]
    latest_inbound: Message | None
    brand: Brand | None
    assignee: Agent | None
    team: Team | None
    agents: list[Agent]
    teams: list[Team]
    reply_to: Message | None
    limit_public: int | None = None
    limit_private: int | None = None
    weighted: bool = False
    # {"crisis", "holding_statement"} while the conversation is in an active crisis.
    holding: dict[str, Any] | None = None


def conversation_view(session: Session, conversation_id: int) -> ConversationView | None:
    conversation = session.scalar(
        select(Conversation)
        .where(Conversation.id == conversation_id)
        .options(selectinload(Conversation.messages), selectinload(Conversation.customer))
    )
    if conversation is None:
        return None
    notes = session.scalars(
        select(Note).where(Note.conversation_id == conversation_id).order_by(Note.id)
    ).all()
    names = dict(session.execute(select(Agent.id, Agent.name)).all())
    items = [ThreadItem(at=m.sent_at, message=m) for m in conversation.messages]
    items += [
        ThreadItem(at=n.created_at, note=n, note_author=names.get(n.author_agent_id, "")) for n in notes
    ]
    items.sort(key=lambda i: i.at)
    customer = conversation.customer
    past: list[Conversation] = []
    if customer is not None:
        past = list(
            session.scalars(
                select(Conversation)
                .where(Conversation.customer_id == customer.id, Conversation.id != conversation.id)
                .order_by(Conversation.last_message_at.desc())
                .limit(20)
            )
        )
        _ = customer.identities  # loaded now, while the session is open
    inbound = [m for m in conversation.messages if m.direction == "inbound"]
    view = ConversationView(
        conversation=conversation,
        items=items,
        customer=customer,
        past=past,
        latest_inbound=inbound[-1] if inbound else None,
        brand=session.get(Brand, conversation.brand_id),
        assignee=session.get(Agent, conversation.assignee_id) if conversation.assignee_id else None,
        team=session.get(Team, conversation.team_id) if conversation.team_id else None,
        agents=list(session.scalars(select(Agent).where(Agent.active).order_by(Agent.name))),
        teams=list(session.scalars(select(Team).order_by(Team.name))),
        reply_to=inbound[-1] if inbound else None,
        holding=crisis.holding_statement(session, conversation.id),
    )
    try:
        from socialdesk.platforms.registry import get_connector

        limits = get_connector(conversation.platform).limits
        view.limit_public, view.limit_private = limits.max_chars_public, limits.max_chars_private
        view.weighted = limits.weighted_length
    except KeyError:
        pass
    return view


def triage_chips(message: Message | None) -> list[dict[str, str]]:
    """The chips above a customer message: label plus the reasons behind it (tooltip)."""
    if message is None or not message.triage:
        return []
    t = message.triage
    why = t.get("explanations") or {}

    def reasons(key: str, extra: list[str] | None = None) -> str:
        return "; ".join([*(extra or []), *(why.get(key) or [])][:6])

    chips = []
    lang = t.get("language") or {}
    if lang.get("code"):
        chips.append(
            {
                "kind": "language",
                "label": lang["code"],
                "why": f"confidence {lang.get('confidence', 0):.0%} ({lang.get('method', 'model')})",
            }
        )
    sent = t.get("sentiment") or {}
    if sent.get("label"):
        probs = ", ".join(f"{k} {v:.0%}" for k, v in (sent.get("probabilities") or {}).items())
        chips.append(
            {
                "kind": f"sentiment {sent['label']}",
                "label": sent["label"],
                "why": reasons("sentiment", [probs]),
            }
        )
    issue = t.get("issue_type") or {}
    if issue.get("label"):
        chips.append(
            {
                "kind": "issue",
                "label": issue["label"].replace("_", " "),
                "why": reasons("issue_type", issue.get("reasons")),
            }
        )
    emotion = t.get("emotion") or {}
    if emotion.get("reading") and emotion["reading"] != "neutral":
        chips.append({"kind": "emotion", "label": emotion["reading"], "why": reasons("emotion")})
    if (t.get("offensive") or {}).get("label"):
        chips.append(
            {
                "kind": "offensive",
                "label": "offensive",
                "why": f"probability {t['offensive'].get('probability', 0):.0%}",
            }
        )
    if t.get("pii"):
        kinds = sorted({p.get("kind", "") for p in t["pii"]})
        chips.append({"kind": "pii", "label": "personal data", "why": ", ".join(kinds)})
    urgency = t.get("urgency") or {}
    if urgency.get("score") is not None:
        chips.append(
            {
                "kind": "urgency",
                "label": f"urgency {urgency['score']}",
                "why": "; ".join(urgency.get("reasons") or []) or "no urgency signals",
            }
        )
    return chips
