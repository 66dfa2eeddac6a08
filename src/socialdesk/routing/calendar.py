"""Business time: how many open seconds lie between two instants, and when N open seconds end.

A calendar is a weekly schedule of local-time windows in one IANA timezone, minus public
holidays (the `holidays` library) and custom closed days. Windows are turned into UTC per
local day, so daylight-saving changes shorten or lengthen that day's window as the wall
clock says. ``None`` as a calendar means "always open" (24/7, calendar time).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays as holidays_lib

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Searching further than this for open time means the calendar is (almost) never open.
MAX_DAYS = 3 * 366


class CalendarError(ValueError):
    pass


def _parse_hhmm(value: str) -> time | None:
    """ "HH:MM" → time; "24:00" → None (end of day)."""
    if value == "24:00":
        return None
    try:
        hh, mm = value.split(":")
        return time(int(hh), int(mm))
    except (ValueError, TypeError) as exc:
        raise CalendarError(f"{value!r} is not a time of day like '09:00'") from exc


@dataclass(frozen=True, slots=True)
class Calendar:
    timezone: str = "UTC"
    # weekday index 0=Monday → tuple of (start, end) local times; end None = midnight.
    windows: tuple[tuple[tuple[time, time | None], ...], ...] = field(default=((),) * 7)
    holiday_country: str = ""
    holiday_subdivision: str = ""
    closed_days: frozenset[date] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        timezone: str = "UTC",
        schedule: dict[str, list[list[str]]] | None = None,
        holiday_country: str = "",
        holiday_subdivision: str = "",
        closed_days: list[str] | None = None,
    ) -> Calendar:
        """Validate and build; every problem is a CalendarError with a readable message."""
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise CalendarError(f"unknown timezone {timezone!r}") from exc
        schedule = schedule or {}
        unknown = set(schedule) - set(DAYS)
        if unknown:
            raise CalendarError(f"unknown weekday(s) {sorted(unknown)}; use {', '.join(DAYS)}")
        windows: list[tuple[tuple[time, time | None], ...]] = []
        for day in DAYS:
            day_windows = []
            for pair in schedule.get(day, []):
                if not isinstance(pair, list | tuple) or len(pair) != 2:
                    raise CalendarError(f"{day}: each window is [start, end], got {pair!r}")
                start, end = _parse_hhmm(str(pair[0])), _parse_hhmm(str(pair[1]))
                if start is None or (end is not None and end <= start):
                    raise CalendarError(f"{day}: window {pair[0]}–{pair[1]} must end after it starts")
                day_windows.append((start, end))
            day_windows.sort(key=lambda w: w[0])
            for (_, a_end), (b_start, _) in zip(day_windows, day_windows[1:], strict=False):
                if a_end is None or a_end > b_start:
                    raise CalendarError(f"{day}: windows overlap")
            windows.append(tuple(day_windows))
        if holiday_country:
            try:
                holidays_lib.country_holidays(holiday_country, subdiv=holiday_subdivision or None, years=2026)
            except (NotImplementedError, KeyError, ValueError) as exc:
                raise CalendarError(
                    f"no public holidays known for {holiday_country!r} {holiday_subdivision!r}: {exc}"
                ) from exc
        closed: set[date] = set()
        for raw in closed_days or []:
            try:
                closed.add(date.fromisoformat(raw))
            except (TypeError, ValueError) as exc:
                raise CalendarError(f"closed day {raw!r} is not a date like 2026-12-24") from exc
        if not any(windows):
            raise CalendarError("the schedule has no opening hours at all")
        return cls(timezone, tuple(windows), holiday_country, holiday_subdivision, frozenset(closed))

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_closed_day(self, day: date) -> bool:
        if day in self.closed_days:
            return True
        if self.holiday_country:
            return day in _holidays(self.holiday_country, self.holiday_subdivision, day.year)
        return False

    def open_intervals(
        self, start: datetime, end: datetime | None = None
    ) -> Iterator[tuple[datetime, datetime]]:
        """Open intervals in UTC, clipped to [start, end), in order, from the local day of start."""
        zone = self.zone
        day = start.astimezone(zone).date()
        for _ in range(MAX_DAYS + 1):
            if end is not None and datetime.combine(day, time(0), zone).astimezone(UTC) >= end:
                return
            if not self.is_closed_day(day):
                for w_start, w_end in self.windows[day.weekday()]:
                    a = datetime.combine(day, w_start, zone).astimezone(UTC)
                    b = (
                        datetime.combine(day + timedelta(days=1), time(0), zone)
                        if w_end is None
                        else datetime.combine(day, w_end, zone)
                    ).astimezone(UTC)
                    a = max(a, start)
                    if end is not None:
                        b = min(b, end)
                    if b > a:
                        yield a, b
            day += timedelta(days=1)
        if end is None:
            raise CalendarError(f"the calendar has no open time in the {MAX_DAYS} days after {start}")

    def is_open(self, at: datetime) -> bool:
        return any(True for _ in self.open_intervals(at, at + timedelta(seconds=1)))


@lru_cache(maxsize=256)
def _holidays(country: str, subdivision: str, year: int) -> holidays_lib.HolidayBase:
    return holidays_lib.country_holidays(country, subdiv=subdivision or None, years=year)


def business_seconds(calendar: Calendar | None, start: datetime, end: datetime) -> float:
    """Open seconds in [start, end); calendar time when there is no calendar."""
    if end <= start:
        return 0.0
    if calendar is None:
        return (end - start).total_seconds()
    return sum((b - a).total_seconds() for a, b in calendar.open_intervals(start, end))


def add_business_seconds(calendar: Calendar | None, start: datetime, seconds: float) -> datetime:
    """The instant at which ``seconds`` of open time have passed since ``start``.

    A target that ends exactly at closing time is due at closing time, not at the next opening.
    """
    if calendar is None:
        return start + timedelta(seconds=seconds)
    if seconds <= 0:
        # Already used up: due now (or at start, whichever the caller passed).
        return start
    remaining = seconds
    for a, b in calendar.open_intervals(start):
        length = (b - a).total_seconds()
        if remaining <= length:
            return a + timedelta(seconds=remaining)
        remaining -= length
    raise CalendarError("unreachable")  # pragma: no cover - open_intervals raises first
