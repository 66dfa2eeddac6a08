"""Business hours and SLA clocks for KPIs, borrowed from the routing domain.

KPIs count business time on the calendar the routing domain uses for the conversation's team
(`routing.calendar.Calendar`): the team's calendar, else the SLA policy's, else Mon–Fri
09:00–17:00 in the team's timezone. SLA met/breached comes from routing's own clocks
(`routing.sla.compute_clocks`), so the report and the inbox never disagree. Without the
routing domain, business time is calendar time and only breach events count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics.timeline import Clock, Event, SlaClock, SlaTargets, calendar_seconds
from socialdesk.conversations.models import Conversation


class Resolver:
    """Per-run caches of calendars and policies, so a rebuild does not query per conversation."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._calendars: dict[Any, Any] = {}
        self._policies: dict[int, Any] = {}
        try:
            from socialdesk.routing import calendar as routing_calendar
            from socialdesk.routing import sla as routing_sla
        except ImportError:  # the routing domain is optional for analytics
            self._cal = self._sla = None
        else:
            self._cal, self._sla = routing_calendar, routing_sla

    def calendar(self, conversation: Conversation, policy: Any = None) -> Any:
        if self._sla is None:
            return None
        key = (conversation.team_id, getattr(policy, "calendar_id", None))
        if key in self._calendars:
            return self._calendars[key]
        from socialdesk.routing.models import BusinessCalendar, Team

        row = None
        team = self.session.get(Team, conversation.team_id) if conversation.team_id else None
        if team is not None:
            row = self.session.scalar(select(BusinessCalendar).where(BusinessCalendar.team_id == team.id))
        if row is None and policy is not None and policy.calendar_id:
            row = self.session.get(BusinessCalendar, policy.calendar_id)
        if row is None:
            cal = self._cal.Calendar.build(
                timezone=team.timezone if team else "UTC", schedule=self._sla.DEFAULT_SCHEDULE
            )
        else:
            cal = self._sla.calendar_from_row(row)
        self._calendars[key] = cal
        return cal

    def clock(self, conversation: Conversation) -> Clock:
        if self._cal is None:
            return calendar_seconds
        cal = self.calendar(conversation, self._policy(conversation))
        business_seconds = self._cal.business_seconds
        return lambda start, end: business_seconds(cal, start, end)

    def _policy(self, conversation: Conversation) -> Any:
        if self._sla is None or conversation.sla_policy_id is None:
            return None
        pid = conversation.sla_policy_id
        if pid not in self._policies:
            from socialdesk.routing.models import SlaPolicy

            self._policies[pid] = self.session.get(SlaPolicy, pid)
        return self._policies[pid]

    def sla(self, conversation: Conversation, events: Sequence[Event]) -> SlaTargets:
        policy = self._policy(conversation)
        if policy is None:
            return SlaTargets()
        calendar = self.calendar(conversation, policy) if policy.business_hours else None
        clocks = self._sla.compute_clocks(list(events), policy, calendar)  # type: ignore[union-attr]
        return SlaTargets({name: SlaClock(c.stopped_at, c.due_at) for name, c in clocks.items()})
