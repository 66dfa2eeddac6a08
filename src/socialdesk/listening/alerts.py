"""Alerts: raised once per ongoing spike, shown in the API, sent by webhook (Slack-compatible) and e-mail."""

from __future__ import annotations

import logging
import smtplib
import threading
import time
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import event, or_, select
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Message
from socialdesk.db.base import utcnow
from socialdesk.listening.models import DESTINATION_KINDS, Alert, AlertDestination, Mention, MentionRule
from socialdesk.listening.spikes import Finding

if TYPE_CHECKING:
    from socialdesk.listening.emerging import EmergingIssue
    from socialdesk.listening.service import RuleInfo

log = logging.getLogger(__name__)

# A spike is "the same ongoing spike" while it keeps being detected within this gap.
ONGOING = timedelta(minutes=60)
WEBHOOK_ATTEMPTS = 4
WEBHOOK_BACKOFF_S = 0.5
# Tests turn this off and deliver explicitly; in production alerts go out after the commit.
BACKGROUND_DELIVERY = True


class AlertError(ValueError):
    pass


# --- raising ----------------------------------------------------------------------------------


def _ongoing(session: Session, series: str, now: datetime) -> Alert | None:
    return session.scalar(
        select(Alert)
        .where(Alert.series == series, or_(Alert.last_seen_at >= now - ONGOING, Alert.snoozed_until > now))
        .order_by(Alert.id.desc())
        .limit(1)
    )


def _raise(
    session: Session,
    *,
    kind: str,
    series: str,
    title: str,
    start: datetime,
    end: datetime,
    observed: float,
    expected: float,
    score: float,
    brand_id: int | None,
    rule_id: int | None,
    examples: list[dict[str, Any]],
    data: dict[str, Any],
) -> tuple[Alert, bool]:
    """Create an alert, or extend the ongoing one for the same series (returns (alert, created))."""
    existing = _ongoing(session, series, end)
    if existing is not None:
        existing.last_seen_at = max(existing.last_seen_at, end)
        existing.window_end = max(existing.window_end, end)
        if observed > existing.observed:
            existing.observed, existing.expected, existing.score = observed, expected, score
        if existing.status == "snoozed" and existing.snoozed_until and existing.snoozed_until <= end:
            existing.status = "open"
            existing.snoozed_until = None
            _schedule_delivery(session, existing)
        return existing, False
    alert = Alert(
        kind=kind,
        series=series,
        title=title,
        brand_id=brand_id,
        rule_id=rule_id,
        window_start=start,
        window_end=end,
        observed=observed,
        expected=expected,
        score=score,
        examples=examples,
        data=data,
        first_seen_at=end,
        last_seen_at=end,
    )
    session.add(alert)
    session.flush()
    _schedule_delivery(session, alert)
    return alert, True


def _example_rows(session: Session, series: str, start: datetime, end: datetime) -> list[Message]:
    parts = series.split(":")
    stmt = select(Message).where(
        Message.sent_at >= start, Message.sent_at < end, Message.direction == "inbound"
    )
    if parts[0] == "rule":
        stmt = (
            select(Message)
            .join(Mention, Mention.message_id == Message.id)
            .join(MentionRule, MentionRule.mention_id == Mention.id)
            .where(
                MentionRule.rule_id == int(parts[1]), MentionRule.sent_at >= start, MentionRule.sent_at < end
            )
        )
    elif parts[0] == "brand" and len(parts) >= 4 and parts[2] == "issue":
        stmt = stmt.where(Message.issue_type == parts[3])
    elif parts[0] == "brand" and parts[-1] == "negative":
        stmt = stmt.where(Message.sentiment == "negative")
    return list(session.scalars(stmt.order_by(Message.sent_at.desc()).limit(3)))


def _example(m: Message) -> dict[str, Any]:
    return {
        "message_id": m.id,
        "author": m.author_handle,
        "text": (m.text or "")[:280],
        "sent_at": m.sent_at.isoformat(),
        "platform": m.platform,
    }


def raise_spike(session: Session, finding: Finding, *, brand_id: int | None, rule: RuleInfo | None) -> Alert:
    parts = finding.series.split(":")
    if finding.share:
        kind, title = (
            "negative_share",
            (f"Negative share at {finding.observed:.0%} (usually {finding.expected:.0%})"),
        )
    elif parts[0] == "rule":
        kind = "spike"
        name = rule.name if rule else parts[1]
        title = (
            f"Spike in '{name}': {finding.observed:.0f} in {_minutes(finding)} min "
            f"(expected {finding.expected:.1f})"
        )
    else:
        kind = "issue_spike"
        title = (
            f"Spike in {parts[3].replace('_', ' ')}: {finding.observed:.0f} in {_minutes(finding)} min "
            f"(expected {finding.expected:.1f})"
        )
    examples = [
        _example(m) for m in _example_rows(session, finding.series, finding.window_start, finding.window_end)
    ]
    alert, _ = _raise(
        session,
        kind=kind,
        series=finding.series,
        title=title,
        start=finding.window_start,
        end=finding.window_end,
        observed=finding.observed,
        expected=finding.expected,
        score=finding.score,
        brand_id=brand_id,
        rule_id=rule.id if rule else None,
        examples=examples,
        data={"ratio": finding.ratio, "method": finding.method, "query": rule.query if rule else None},
    )
    return alert


def raise_emerging(session: Session, issue: EmergingIssue, *, brand_id: int | None) -> Alert:
    # The same emerging issue seen through another of its phrases is the same alert.
    recent = session.scalars(
        select(Alert).where(
            Alert.kind == "emerging",
            Alert.brand_id == brand_id,
            Alert.last_seen_at >= issue.window_end - ONGOING,
        )
    ).all()
    for alert in recent:
        if set(alert.data.get("phrases", [])) & set(issue.phrases):
            alert.last_seen_at = max(alert.last_seen_at, issue.window_end)
            alert.window_end = max(alert.window_end, issue.window_end)
            alert.observed = max(alert.observed, issue.observed)
            return alert
    messages = session.scalars(select(Message).where(Message.id.in_(issue.message_ids[-3:]))).all()
    alert, _ = _raise(
        session,
        kind="emerging",
        series=f"emerging:{brand_id}:{issue.label}",
        title=f'Emerging issue: "{issue.label}" ({issue.observed} negative messages, {issue.authors} people)',
        start=issue.window_start,
        end=issue.window_end,
        observed=issue.observed,
        expected=issue.expected,
        score=round(issue.observed / max(issue.expected, 1.0), 2),
        brand_id=brand_id,
        rule_id=None,
        examples=[_example(m) for m in messages],
        data={
            "label": issue.label,
            "phrases": issue.phrases,
            "coverage": issue.coverage,
            "authors": issue.authors,
            "previous_window": issue.previous,
        },
    )
    return alert


def _minutes(f: Finding) -> int:
    return int((f.window_end - f.window_start).total_seconds() // 60)


# --- reading, acknowledging, snoozing ---------------------------------------------------------


def list_alerts(
    session: Session,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 50,
    now: datetime | None = None,
) -> list[Alert]:
    stmt = select(Alert)
    if status == "active":  # what the desk shows: open, or snoozed until a time now past
        now = now or utcnow()
        stmt = stmt.where(
            or_(Alert.status == "open", (Alert.status == "snoozed") & (Alert.snoozed_until <= now))
        )
    elif status is not None:
        stmt = stmt.where(Alert.status == status)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    return list(session.scalars(stmt.order_by(Alert.last_seen_at.desc(), Alert.id.desc()).limit(limit)))


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise LookupError(f"alert {alert_id} does not exist")
    return alert


def acknowledge(session: Session, alert_id: int, actor: str) -> Alert:
    alert = get_alert(session, alert_id)
    alert.status = "acknowledged"
    alert.acknowledged_by = actor
    alert.acknowledged_at = utcnow()
    alert.snoozed_until = None
    return alert


def snooze(session: Session, alert_id: int, minutes: int, actor: str, now: datetime | None = None) -> Alert:
    if not 1 <= minutes <= 7 * 24 * 60:
        raise AlertError("snooze for between 1 minute and 7 days (10080 minutes)")
    alert = get_alert(session, alert_id)
    alert.status = "snoozed"
    alert.snoozed_until = (now or utcnow()) + timedelta(minutes=minutes)
    alert.data = {**alert.data, "snoozed_by": actor}
    return alert


def alert_dict(alert: Alert) -> dict[str, Any]:
    return {
        "id": alert.id,
        "kind": alert.kind,
        "series": alert.series,
        "title": alert.title,
        "brand_id": alert.brand_id,
        "rule_id": alert.rule_id,
        "status": alert.status,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "observed": alert.observed,
        "expected": alert.expected,
        "score": alert.score,
        "examples": alert.examples,
        "data": alert.data,
        "first_seen_at": alert.first_seen_at.isoformat(),
        "last_seen_at": alert.last_seen_at.isoformat(),
        "acknowledged_by": alert.acknowledged_by or None,
        "acknowledged_at": alert.acknowledged_at.isoformat() if alert.acknowledged_at else None,
        "snoozed_until": alert.snoozed_until.isoformat() if alert.snoozed_until else None,
        "deliveries": alert.deliveries,
    }


# --- destinations and delivery ----------------------------------------------------------------


def add_destination(
    session: Session,
    *,
    kind: str,
    target: str,
    brand_id: int | None = None,
    options: dict[str, Any] | None = None,
) -> AlertDestination:
    options = dict(options or {})
    if kind not in DESTINATION_KINDS:
        raise AlertError(f"unknown destination kind {kind!r}; expected webhook or email")
    if kind == "webhook" and not target.startswith(("http://", "https://")):
        raise AlertError("a webhook destination needs an http:// or https:// URL")
    if kind == "email":
        if "@" not in target or " " in target.strip():
            raise AlertError(f"{target!r} is not an e-mail address")
        if not options.get("smtp_host"):
            raise AlertError("an e-mail destination needs options.smtp_host (and smtp_port, sender)")
        try:
            options["smtp_port"] = int(options.get("smtp_port", 25))
        except (TypeError, ValueError) as exc:
            raise AlertError("options.smtp_port must be a number") from exc
    dest = AlertDestination(kind=kind, target=target.strip(), brand_id=brand_id, options=options)
    session.add(dest)
    session.flush()
    return dest


def destination_dict(dest: AlertDestination) -> dict[str, Any]:
    # The SMTP password is write-only.
    options = {k: v for k, v in dest.options.items() if k != "password"}
    return {
        "id": dest.id,
        "kind": dest.kind,
        "target": dest.target,
        "brand_id": dest.brand_id,
        "options": options,
        "active": dest.active,
    }


def slack_payload(alert: Alert, base_url: str = "") -> dict[str, Any]:
    """Slack incoming-webhook JSON (text + blocks); other tools read `socialdesk`."""
    lines = [
        f"*{alert.title}*",
        f"Window {alert.window_start:%Y-%m-%d %H:%M}–{alert.window_end:%H:%M} UTC · "
        f"observed {alert.observed:g} vs expected {alert.expected:g} · score {alert.score:g}",
    ]
    for ex in alert.examples[:3]:
        lines.append(f"> {ex.get('text', '')[:200]}")
    if base_url:
        lines.append(f"<{base_url.rstrip('/')}/api/v1/listening/alerts/{alert.id}|Open alert #{alert.id}>")
    text = "\n".join(lines)
    return {
        "text": f":rotating_light: {alert.title}",
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        "socialdesk": alert_dict(alert),
    }


def _post_webhook(url: str, payload: dict[str, Any]) -> tuple[bool, int, str]:
    error = ""
    for attempt in range(1, WEBHOOK_ATTEMPTS + 1):
        try:
            response = httpx.post(url, json=payload, timeout=10)
            if response.status_code < 300:
                return True, attempt, ""
            error = f"HTTP {response.status_code}"
            if response.status_code < 500 and response.status_code != 429:
                return False, attempt, error  # the receiver refuses it; retrying will not help
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if attempt < WEBHOOK_ATTEMPTS:
            time.sleep(WEBHOOK_BACKOFF_S * 2 ** (attempt - 1))
    return False, WEBHOOK_ATTEMPTS, error


def _send_email(dest: AlertDestination, alert: Alert, base_url: str) -> None:
    opts = dest.options
    msg = EmailMessage()
    msg["Subject"] = f"[socialdesk] {alert.title}"
    msg["From"] = opts.get("sender") or "socialdesk@localhost"
    msg["To"] = dest.target
    body = [
        alert.title,
        "",
        f"Window: {alert.window_start:%Y-%m-%d %H:%M} – {alert.window_end:%H:%M} UTC",
        f"Observed: {alert.observed:g}   Expected: {alert.expected:g}   Score: {alert.score:g}",
        "",
    ]
    body += [f"- {ex.get('text', '')[:200]}" for ex in alert.examples[:3]]
    if base_url:
        body += ["", f"{base_url.rstrip('/')}/api/v1/listening/alerts/{alert.id}"]
    msg.set_content("\n".join(body))
    with smtplib.SMTP(opts["smtp_host"], int(opts.get("smtp_port", 25)), timeout=10) as smtp:
        if opts.get("starttls"):
            smtp.starttls()
        if opts.get("username"):
            smtp.login(opts["username"], opts.get("password", ""))
        smtp.send_message(msg)


def deliver(session: Session, alert: Alert) -> dict[str, Any]:
    """Send an alert to every active destination of its brand (and the global ones); records results."""
    from socialdesk.config import get_settings

    base_url = get_settings().base_url
    dests = session.scalars(
        select(AlertDestination).where(
            AlertDestination.active.is_(True),
            or_(AlertDestination.brand_id.is_(None), AlertDestination.brand_id == alert.brand_id),
        )
    ).all()
    results = dict(alert.deliveries or {})
    for dest in dests:
        if results.get(str(dest.id), {}).get("status") == "sent" and alert.status != "open":
            continue
        if dest.kind == "webhook":
            ok, attempts, error = _post_webhook(dest.target, slack_payload(alert, base_url))
        else:
            attempts, error = 1, ""
            try:
                _send_email(dest, alert, base_url)
                ok = True
            except (OSError, smtplib.SMTPException) as exc:
                ok, error = False, f"{type(exc).__name__}: {exc}"
        results[str(dest.id)] = {
            "kind": dest.kind,
            "status": "sent" if ok else "failed",
            "attempts": attempts,
            "error": error,
            "at": utcnow().isoformat(),
        }
    alert.deliveries = results
    return results


def _schedule_delivery(session: Session, alert: Alert) -> None:
    """After the commit (never before: a rolled-back alert must not be announced): live update, delivery."""
    pending: list[int] = session.info.setdefault("listening_deliver", [])
    if not pending:
        event.listen(session, "after_commit", _after_commit, once=True)
        event.listen(session, "after_rollback", _after_rollback, once=True)
    pending.append(alert.id)


def _after_rollback(session: Session) -> None:
    session.info.pop("listening_deliver", None)  # those alerts were never stored


def _after_commit(session: Session) -> None:
    from socialdesk.live import publish

    ids = list(dict.fromkeys(session.info.pop("listening_deliver", [])))
    for alert_id in ids:
        publish("listening.alert", alert_id=alert_id)
    if ids and BACKGROUND_DELIVERY:
        threading.Thread(target=deliver_ids, args=(ids,), name="alert-delivery", daemon=True).start()


def deliver_ids(ids: list[int]) -> None:
    from socialdesk.db.engine import session_scope

    try:
        with session_scope() as session:
            for alert in session.scalars(select(Alert).where(Alert.id.in_(ids))):
                deliver(session, alert)
    except Exception:  # pragma: no cover - a background thread must never take the worker down
        log.exception("alert delivery failed")
