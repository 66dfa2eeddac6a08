"""The KPI report (markdown, CSV or JSON) and its schedules: weekly by e-mail or webhook."""

from __future__ import annotations

import csv
import io
import json
import logging
import smtplib
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics import kpis
from socialdesk.analytics.kpis import Filters
from socialdesk.analytics.models import ReportSchedule
from socialdesk.analytics.settings import get_analytics_settings
from socialdesk.brands.models import Brand
from socialdesk.db.base import utcnow

log = logging.getLogger(__name__)
FORMATS = ("md", "csv", "json")
BREAKDOWNS = ("platform", "agent", "language", "country")


class ReportError(ValueError):
    pass


def build_report(session: Session, f: Filters, now: datetime | None = None) -> dict[str, Any]:
    """Headline KPIs plus the per-platform, per-agent, language and region tables."""
    now = now or utcnow()
    summary, breakdowns = kpis.report_figures(session, f, BREAKDOWNS, now=now)
    return {
        "title": "socialdesk KPI report",
        "generated_at": now.isoformat(),
        "summary": summary,
        "breakdowns": breakdowns,
    }


def _dur(v: Any) -> str:
    if v is None:
        return "–"
    s = float(v)
    if s < 3600:
        return f"{s / 60:.1f} min"
    if s < 86400:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def _pct(v: Any) -> str:
    return "–" if v is None else f"{float(v) * 100:.1f}%"


def _val(v: Any) -> str:
    return "–" if v is None else str(v)


def render(report: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(report, indent=2, default=str)
    if fmt == "csv":
        return _csv(report)
    if fmt == "md":
        return _markdown(report)
    raise ReportError(f"unknown format {fmt!r}; use md, csv or json")


def _markdown(report: dict[str, Any]) -> str:
    s = report["summary"]
    f = s["filters"]
    lines = [
        f"# {report['title']}",
        "",
        f"Period: {f['since'] or 'beginning'} → {f['until'] or report['generated_at']}"
        + ("  (business hours)" if f.get("business_hours") else ""),
        "",
        "| KPI | Value |",
        "| --- | --- |",
        f"| New conversations | {s['volume']['conversations']} |",
        f"| Customer messages / replies | {s['volume']['messages_in']} / {s['volume']['messages_out']} |",
    ]
    for key, label in (
        ("first_response_time", "First response time"),
        ("next_response_time", "Next response time"),
        ("resolution_time", "Resolution time"),
    ):
        m = s[key]
        lines.append(
            f"| {label} (n={m['count']}) | mean {_dur(m['mean_seconds'])}, "
            f"median {_dur(m['median_seconds'])}, p90 {_dur(m['p90_seconds'])} |"
        )
    for target, v in s["sla_compliance"].items():
        lines.append(
            f"| SLA {target.replace('_', ' ')} | {_pct(v['compliance'])} "
            f"({v['met']} met, {v['breached']} breached) |"
        )
    c = s["csat"]
    lines.append(
        f"| CSAT | {_pct(c['csat'])} of {c['answers']} answers, average {_val(c['average_rating'])} "
        f"({c['surveys_sent']} surveys sent) |"
    )
    sh = s["sentiment_shift"]
    lines.append(
        f"| Sentiment shift | {_val(sh['mean_shift'])} over {sh['conversations']} conversations "
        f"({sh['improved']} improved, {sh['worsened']} worsened) |"
    )
    b = s["backlog"]
    lines.append(f"| Backlog now | {b['count']} open, median age {_dur(b['age_median_seconds'])} |")
    e = s["engagement"]
    lines.append(f"| Engagement rate (brand posts) | {_pct(e['engagement_rate'])} over {e['posts']} posts |")
    for group, rows in report["breakdowns"].items():
        lines += [
            "",
            f"## By {group}",
            "",
            "| | Conversations | FRT median | Resolution median | FRT SLA | CSAT | Sentiment shift |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for r in rows:
            lines.append(
                f"| {r['label'] or '(none)'} | {_val(r['conversations'])} | "
                f"{_dur(r['frt_median_seconds'])} | {_dur(r['resolution_median_seconds'])} | "
                f"{_pct(r['frt_sla_compliance'])} | {_pct(r['csat'])} | {_val(r['sentiment_shift'])} |"
            )
        if not rows:
            lines.append("| (no data) | | | | | | |")
    return "\n".join(lines) + "\n"


def _flat(prefix: str, value: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flat(f"{prefix}.{k}" if prefix else k, v, out)
    else:
        out.append((prefix, value))


def _csv(report: dict[str, Any]) -> str:
    """Long format: section, group, metric, value; one row per figure."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["section", "group", "metric", "value"])
    pairs: list[tuple[str, Any]] = []
    _flat("", {k: v for k, v in report["summary"].items() if k != "filters"}, pairs)
    for metric, value in pairs:
        w.writerow(["summary", "", metric, "" if value is None else value])
    for group, rows in report["breakdowns"].items():
        for r in rows:
            for metric, value in r.items():
                if metric not in ("key", "label"):
                    w.writerow([group, r["label"], metric, "" if value is None else value])
    return buf.getvalue()


# --- schedules -------------------------------------------------------------------------------


def next_run(schedule: ReportSchedule, after: datetime) -> datetime:
    """The first run time strictly after ``after`` (UTC)."""
    candidate = after.replace(hour=schedule.hour, minute=0, second=0, microsecond=0)
    if schedule.every == "daily":
        return candidate if candidate > after else candidate + timedelta(days=1)
    candidate += timedelta(days=(schedule.weekday - candidate.weekday()) % 7)
    return candidate if candidate > after else candidate + timedelta(days=7)


def create_schedule(
    session: Session,
    *,
    name: str,
    every: str = "weekly",
    weekday: int = 0,
    hour: int = 8,
    format: str = "md",
    email_to: str = "",
    webhook_url: str = "",
    brand: str | None = None,
    now: datetime | None = None,
) -> ReportSchedule:
    if not name.strip():
        raise ReportError("a schedule needs a name")
    if every not in ("weekly", "daily"):
        raise ReportError("every must be weekly or daily")
    if not 0 <= weekday <= 6 or not 0 <= hour <= 23:
        raise ReportError("weekday is 0 (Monday) to 6, hour is 0 to 23 (UTC)")
    if format not in FORMATS:
        raise ReportError(f"unknown format {format!r}; use md, csv or json")
    if not email_to and not webhook_url:
        raise ReportError("a schedule needs an e-mail address (email_to) or a webhook URL (webhook_url)")
    for address in filter(None, (a.strip() for a in email_to.split(","))):
        if "@" not in address or " " in address:
            raise ReportError(f"{address!r} is not an e-mail address")
    if webhook_url and not webhook_url.startswith(("http://", "https://")):
        raise ReportError("the webhook URL must start with http:// or https://")
    if session.scalar(select(ReportSchedule).where(ReportSchedule.name == name)) is not None:
        raise ReportError(f"a schedule named {name!r} already exists")
    brand_id = None
    if brand:
        row = session.scalar(select(Brand).where(Brand.slug == brand))
        if row is None:
            raise ReportError(f"no brand {brand!r}")
        brand_id = row.id
    schedule = ReportSchedule(
        name=name.strip(),
        every=every,
        weekday=weekday,
        hour=hour,
        format=format,
        email_to=email_to,
        webhook_url=webhook_url,
        brand_id=brand_id,
        next_run_at=utcnow(),
    )
    schedule.next_run_at = next_run(schedule, now or utcnow())
    session.add(schedule)
    session.flush()
    return schedule


def schedule_dict(s: ReportSchedule) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "every": s.every,
        "weekday": s.weekday,
        "hour": s.hour,
        "format": s.format,
        "email_to": s.email_to,
        "webhook_url": s.webhook_url,
        "brand_id": s.brand_id,
        "next_run_at": s.next_run_at.isoformat(),
        "last_run_at": s.last_run_at.isoformat() if s.last_run_at else None,
        "last_error": s.last_error,
    }


def deliver(schedule: ReportSchedule, subject: str, body: str) -> None:
    """E-mail and/or POST the rendered report; raises on the first failure."""
    if schedule.email_to:
        cfg = get_analytics_settings()
        msg = EmailMessage()
        msg["Subject"], msg["From"], msg["To"] = subject, cfg.smtp_from, schedule.email_to
        msg.set_content(body)
        if schedule.format != "md":
            msg.add_attachment(
                body.encode(), maintype="text", subtype=schedule.format, filename=f"report.{schedule.format}"
            )
        with smtplib.SMTP(cfg.smtp_host, cfg.smtp_port, timeout=30) as smtp:
            if cfg.smtp_starttls:
                smtp.starttls()
            if cfg.smtp_user:
                smtp.login(cfg.smtp_user, cfg.smtp_password)
            smtp.send_message(msg)
    if schedule.webhook_url:
        # Slack-compatible: "text" carries the report; the structured copy rides along.
        payload: dict[str, Any] = {"text": f"*{subject}*\n{body}" if schedule.format == "md" else subject}
        if schedule.format != "md":
            payload["report"] = body if schedule.format == "csv" else json.loads(body)
        response = httpx.post(schedule.webhook_url, json=payload, timeout=30)
        response.raise_for_status()


def run_due(session: Session, now: datetime | None = None) -> list[tuple[ReportSchedule, str]]:
    """Send every schedule whose time has come; returns (schedule, "sent" or the error)."""
    from socialdesk.analytics.rollup import refresh
    from socialdesk.analytics.surveys import dispatch

    now = now or utcnow()
    dispatch(session, now)
    refresh(session)
    done = []
    for schedule in session.scalars(
        select(ReportSchedule).where(ReportSchedule.next_run_at <= now).order_by(ReportSchedule.id)
    ):
        days = 1 if schedule.every == "daily" else 7
        f = Filters(since=now - timedelta(days=days), until=now, brand_id=schedule.brand_id)
        report = build_report(session, f, now)
        period = f"{(now - timedelta(days=days)).date()} – {now.date()}"
        subject = f"socialdesk {schedule.every} report: {schedule.name} ({period})"
        try:
            deliver(schedule, subject, render(report, schedule.format))
            schedule.last_error, outcome = "", "sent"
        except (OSError, smtplib.SMTPException, httpx.HTTPError) as exc:
            schedule.last_error = outcome = f"{type(exc).__name__}: {exc}"[:500]
            log.warning("report schedule %s failed: %s", schedule.name, exc)
        schedule.last_run_at = now
        schedule.next_run_at = next_run(schedule, now)
        done.append((schedule, outcome))
    session.flush()
    return done


def loop(interval: float = 60.0, iterations: int | None = None) -> None:
    """Run due schedules and survey dispatch every ``interval`` seconds (``socialdesk report loop``)."""
    from socialdesk.db.engine import session_scope

    n = 0
    while iterations is None or n < iterations:
        with session_scope() as session:
            for schedule, outcome in run_due(session):
                log.info("report %s: %s", schedule.name, outcome)
        n += 1
        if iterations is None or n < iterations:
            time.sleep(interval)
