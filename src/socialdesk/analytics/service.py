"""One entry point per figure, shared by the API, the CSV exports, the dashboard and the reports."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from socialdesk.analytics import kpis
from socialdesk.analytics.kpis import FilterError, Filters
from socialdesk.analytics.rollup import refresh

__all__ = ["DATASETS", "FilterError", "dataset", "ensure_fresh", "rows_of", "to_csv", "cultural"]


def ensure_fresh(session: Session) -> None:
    """Fold new events into the rollups before answering; a concurrent refresh is harmless."""
    try:
        with session.begin_nested():
            refresh(session)
    except (IntegrityError, DBAPIError):
        # Another process refreshed the same conversations at the same moment; its rows stand.
        pass


def cultural(session: Session, f: Filters, group_by: str = "language") -> dict[str, Any]:
    """The same KPIs sliced by the customer's language or country (cultural responsiveness)."""
    if group_by not in ("language", "country"):
        raise FilterError("cultural responsiveness groups by language or country")
    return {"metric": "cultural", "group_by": group_by, "groups": kpis.breakdown(session, f, group_by)}


Dataset = Callable[[Session, Filters, str | None, datetime | None], dict[str, Any]]

DATASETS: dict[str, Dataset] = {
    "summary": lambda s, f, g, now: kpis.summary(s, f, now=now),
    "first-response": lambda s, f, g, now: kpis.response_times(s, f, "first", g, with_buckets=True),
    "next-response": lambda s, f, g, now: kpis.response_times(s, f, "next", g, with_buckets=True),
    "resolution": lambda s, f, g, now: kpis.resolution_times(s, f, g, with_buckets=True),
    "sla": lambda s, f, g, now: kpis.sla_compliance(s, f, g),
    "backlog": lambda s, f, g, now: kpis.backlog(s, f, g, now=now),
    "volume": lambda s, f, g, now: kpis.volume(s, f, g),
    "volume-by-platform": lambda s, f, g, now: kpis.volume_series(s, f, "platform", g or "day"),
    "volume-by-sentiment": lambda s, f, g, now: kpis.volume_series(s, f, "sentiment", g or "day"),
    "csat": lambda s, f, g, now: kpis.csat(s, f, g),
    "sentiment-shift": lambda s, f, g, now: kpis.sentiment_shift(s, f, g),
    "engagement": lambda s, f, g, now: kpis.engagement(s, f, g),
    "agents": lambda s, f, g, now: {"metric": "agents", "groups": kpis.breakdown(s, f, "agent")},
    "teams": lambda s, f, g, now: {"metric": "teams", "groups": kpis.breakdown(s, f, "team")},
    "cultural": lambda s, f, g, now: cultural(s, f, g or "language"),
}


def dataset(
    session: Session, name: str, f: Filters, group_by: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    if name not in DATASETS:
        raise FilterError(f"unknown figure {name!r}; one of {', '.join(DATASETS)}")
    if name.startswith("volume-by-") and group_by not in (None, "day", "week", "hour"):
        raise FilterError("a volume series is grouped by day, week or hour")
    return DATASETS[name](session, f, group_by, now)


def _flatten(prefix: str, value: Any, out: dict[str, Any]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}_{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = value


def rows_of(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The table behind a figure: its groups (or points), else its one overall row."""
    if "points" in result:
        return [dict(p) for p in result["points"]]
    if "targets" in result:  # SLA: one row per target (and group)
        rows = []
        for target, data in result["targets"].items():
            for g in data.get("groups", [{"key": "all", "label": "all", **data["overall"]}]):
                rows.append({"target": target, **g})
        return rows
    items = result.get("groups")
    if items is None:
        items = [result.get("overall", {k: v for k, v in result.items() if k not in ("metric", "filters")})]
    rows = []
    for item in items:
        flat: dict[str, Any] = {}
        _flatten("", item, flat)
        rows.append(flat)
    return rows


def to_csv(result: dict[str, Any]) -> str:
    rows = rows_of(result)
    columns: list[str] = []
    for row in rows:
        columns += [c for c in row if c not in columns]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({c: "" if row.get(c) is None else row.get(c) for c in columns})
    return buf.getvalue()
