"""Rule conditions: a tree of {"all": [...]} / {"any": [...]} over leaf tests.

A leaf is {"field": F, "op": O, "value": V}. Fields and the operators each allows:

    platform, brand, language, sentiment, issue_type, status, priority, direction:
        eq, ne, in, not_in                        (brand is the brand's slug)
    urgency, followers:                           eq, ne, gte, lte, gt, lt  (integers)
    text:                                         contains, not_contains (case-insensitive;
                                                  the triggering message, else the last one)
    label, customer_tag:                          has, not_has
    vip, within_business_hours:                   is (true/false)
    sla_target:                                   eq, in (sla_warning / sla_breach events)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, Message

CHOICE_FIELDS = {
    "platform",
    "brand",
    "language",
    "sentiment",
    "issue_type",
    "status",
    "priority",
    "direction",
}
NUMBER_FIELDS = {"urgency", "followers"}
TEXT_FIELDS = {"text"}
SET_FIELDS = {"label", "customer_tag"}
BOOL_FIELDS = {"vip", "within_business_hours"}
EVENT_FIELDS = {"sla_target"}
OPS = {
    **{f: {"eq", "ne", "in", "not_in"} for f in CHOICE_FIELDS},
    **{f: {"eq", "ne", "gte", "lte", "gt", "lt"} for f in NUMBER_FIELDS},
    **{f: {"contains", "not_contains"} for f in TEXT_FIELDS},
    **{f: {"has", "not_has"} for f in SET_FIELDS},
    **{f: {"is"} for f in BOOL_FIELDS},
    "sla_target": {"eq", "in"},
}
MAX_DEPTH = 6


class ConditionError(ValueError):
    pass


def validate(tree: Any, path: str = "conditions", depth: int = 0) -> None:
    """Raise ConditionError naming the exact place that is wrong."""
    if depth > MAX_DEPTH:
        raise ConditionError(f"{path}: conditions nest deeper than {MAX_DEPTH} levels")
    if not isinstance(tree, dict):
        raise ConditionError(f"{path}: expected an object, got {type(tree).__name__}")
    if not tree:
        return
    groups = [k for k in ("all", "any") if k in tree]
    if groups:
        if len(tree) != 1:
            raise ConditionError(f"{path}: a group has exactly one key, 'all' or 'any'")
        items = tree[groups[0]]
        if not isinstance(items, list) or not items:
            raise ConditionError(f"{path}.{groups[0]}: expected a non-empty list")
        for i, item in enumerate(items):
            validate(item, f"{path}.{groups[0]}[{i}]", depth + 1)
        return
    keys = set(tree)
    if keys != {"field", "op", "value"}:
        raise ConditionError(f"{path}: a test has keys field, op and value (or is an 'all'/'any' group)")
    name, op, value = tree["field"], tree["op"], tree["value"]
    if name not in OPS:
        raise ConditionError(f"{path}: unknown field {name!r}; known: {', '.join(sorted(OPS))}")
    if op not in OPS[name]:
        raise ConditionError(f"{path}: field {name} takes {', '.join(sorted(OPS[name]))}, not {op!r}")
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise ConditionError(f"{path}: {op} needs a non-empty list of strings")
    elif name in NUMBER_FIELDS:
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConditionError(f"{path}: {name} compares with an integer")
    elif name in BOOL_FIELDS:
        if not isinstance(value, bool):
            raise ConditionError(f"{path}: {name} is true or false")
    elif not isinstance(value, str) or not value:
        raise ConditionError(f"{path}: {name} {op} needs a non-empty string")


@dataclass(slots=True)
class Facts:
    """What a rule can see about the event."""

    session: Session
    conversation: Conversation
    message: Message | None = None
    now: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    _cache: dict[str, Any] = field(default_factory=dict)

    def value(self, name: str) -> Any:
        if name not in self._cache:
            self._cache[name] = self._compute(name)
        return self._cache[name]

    def _compute(self, name: str) -> Any:
        c = self.conversation
        customer = c.customer
        if name == "brand":
            from socialdesk.brands.models import Brand

            brand = self.session.get(Brand, c.brand_id)
            return brand.slug if brand else ""
        if name == "language":
            return (self.message.language if self.message and self.message.language else c.language) or ""
        if name == "sentiment":
            return (self.message.sentiment if self.message and self.message.sentiment else c.sentiment) or ""
        if name == "issue_type":
            return (
                self.message.issue_type if self.message and self.message.issue_type else c.issue_type
            ) or ""
        if name == "urgency":
            return int(c.urgency or 0)
        if name == "direction":
            return self.message.direction if self.message else ""
        if name in ("platform", "status", "priority"):
            return getattr(c, name) or ""
        if name == "followers":
            return int(customer.followers or 0) if customer else 0
        if name == "text":
            return (self.message.text if self.message else _last_inbound_text(self.session, c)).casefold()
        if name == "label":
            return set(c.labels or [])
        if name == "customer_tag":
            return {str(t).casefold() for t in (customer.tags or [])} if customer else set()
        if name == "vip":
            return bool(customer and customer.vip)
        if name == "within_business_hours":
            return _within_business_hours(self.session, c, self.now)
        if name == "sla_target":
            return self.extra.get("sla_target", "")
        raise ConditionError(f"unknown field {name!r}")  # pragma: no cover - validated before


def _last_inbound_text(session: Session, conversation: Conversation) -> str:
    from sqlalchemy import select

    text = session.scalar(
        select(Message.text)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )
    return text or ""


def _within_business_hours(session: Session, conversation: Conversation, now: datetime | None) -> bool:
    """Open by the team's calendar, else the SLA policy's, else Mon–Fri 09–17 in the team's zone."""
    from socialdesk.db.base import utcnow
    from socialdesk.routing.models import SlaPolicy
    from socialdesk.routing.sla import calendar_for

    probe = SlaPolicy(name="probe", business_hours=True, calendar_id=None)
    if conversation.sla_policy_id:
        policy = session.get(SlaPolicy, conversation.sla_policy_id)
        if policy is not None:
            probe.calendar_id = policy.calendar_id
    calendar = calendar_for(session, conversation, probe)
    return calendar is None or calendar.is_open(now or utcnow())


def evaluate(tree: dict[str, Any], facts: Facts) -> bool:
    if not tree:
        return True
    if "all" in tree:
        return all(evaluate(t, facts) for t in tree["all"])
    if "any" in tree:
        return any(evaluate(t, facts) for t in tree["any"])
    name, op, expected = tree["field"], tree["op"], tree["value"]
    actual = facts.value(name)
    if name in SET_FIELDS:
        wanted = expected.casefold() if name == "customer_tag" else expected
        return (wanted in actual) == (op == "has")
    if name in TEXT_FIELDS:
        return (expected.casefold() in actual) == (op == "contains")
    if op == "is":
        return actual is expected
    if op == "eq":
        return actual == expected
    if op == "ne":
        return actual != expected
    if op == "in":
        return actual in expected
    if op == "not_in":
        return actual not in expected
    if op == "gte":
        return actual >= expected
    if op == "lte":
        return actual <= expected
    if op == "gt":
        return actual > expected
    if op == "lt":
        return actual < expected
    raise ConditionError(f"unknown operator {op!r}")  # pragma: no cover - validated before
