"""Analytics over HTTP: the JSON API, CSV exports, the dashboard and the public survey page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Body, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics import charts, engagement, reports
from socialdesk.analytics.kpis import FilterError, Filters, build_filters
from socialdesk.analytics.models import CsatSurvey, PostMetrics, ReportSchedule
from socialdesk.analytics.service import DATASETS, dataset, ensure_fresh, to_csv
from socialdesk.analytics.surveys import SurveyError, answer, survey_from_token, texts_for
from socialdesk.auth.service import Principal, audit, authenticate_token
from socialdesk.brands.models import Brand
from socialdesk.conversations.models import Message
from socialdesk.db.base import utcnow
from socialdesk.routing.models import Agent, Team
from socialdesk.web.deps import DbSession, require_role

router = APIRouter()
MANAGERS = ("supervisor", "admin")


def _filters(session: Session, request: Request) -> Filters:
    q = request.query_params
    try:
        return build_filters(
            session,
            since=q.get("since") or None,
            until=q.get("until") or None,
            brand=q.get("brand") or None,
            platform=q.get("platform") or None,
            team=q.get("team") or None,
            agent=q.get("agent") or None,
            language=q.get("language") or None,
            country=q.get("country") or None,
            business_hours=q.get("business_hours", "").lower() in ("1", "true", "yes", "on"),
        )
    except FilterError as exc:
        raise HTTPException(400, str(exc)) from exc


def _figure(session: Session, request: Request, name: str) -> dict[str, Any]:
    f = _filters(session, request)
    ensure_fresh(session)
    try:
        result = dataset(session, name, f, request.query_params.get("group_by") or None)
    except FilterError as exc:
        raise HTTPException(400, str(exc)) from exc
    result.setdefault("filters", f.describe())
    return result


# --- JSON API and CSV ------------------------------------------------------------------------


@router.get("/api/v1/analytics", tags=["analytics"])
def list_figures(principal: Principal = require_role(*MANAGERS)) -> dict[str, Any]:
    """Every figure the API serves; each takes since, until, brand, platform, team, agent, language,
    country, business_hours and group_by, and format=csv for a CSV download."""
    return {"figures": sorted(DATASETS)}


@router.get("/api/v1/analytics/{name}", tags=["analytics"])
def get_figure(
    name: str,
    request: Request,
    session: DbSession,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
    principal: Principal = require_role(*MANAGERS),
) -> Response:
    if name not in DATASETS:
        raise HTTPException(404, f"unknown figure {name!r}; one of {', '.join(sorted(DATASETS))}")
    result = _figure(session, request, name)
    if format == "csv":
        return _csv_response(name, result)
    from fastapi.encoders import jsonable_encoder
    from fastapi.responses import JSONResponse

    return JSONResponse(jsonable_encoder(result))


def _csv_response(name: str, result: dict[str, Any]) -> Response:
    return PlainTextResponse(
        to_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="socialdesk-{name}.csv"'},
    )


class PostCounts(BaseModel):
    impressions: int = Field(ge=0)
    likes: int = Field(0, ge=0)
    replies: int = Field(0, ge=0)
    shares: int = Field(0, ge=0)


@router.put("/api/v1/analytics/posts/{message_id}/metrics", tags=["analytics"])
def put_post_metrics(
    message_id: int, counts: PostCounts, session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> dict[str, Any]:
    """Record the counts a platform reports for one of the brand's own posts (engagement rate)."""
    message = session.get(Message, message_id)
    if message is None:
        raise HTTPException(404, f"no message {message_id}")
    if message.direction != "outbound":
        raise HTTPException(400, "engagement is measured on the brand's own (outbound) posts only")
    row = session.get(PostMetrics, message_id) or PostMetrics(message_id=message_id)
    row.impressions, row.likes, row.replies, row.shares = (
        counts.impressions,
        counts.likes,
        counts.replies,
        counts.shares,
    )
    row.recorded_at = utcnow()
    session.add(row)
    audit(session, principal.name, "analytics.post_metrics", f"message:{message_id}", **counts.model_dump())
    return {"message_id": message_id, **counts.model_dump()}


@router.post("/api/v1/analytics/posts/metrics/{platform}", tags=["analytics"])
def post_platform_metrics(
    platform: str,
    payload: Annotated[Any, Body()],
    session: DbSession,
    principal: Principal = require_role(*MANAGERS),
) -> dict[str, Any]:
    """Record the counts from a platform's own API response (an X Posts lookup with
    ``tweet.fields=public_metrics``, a YouTube ``videos.list`` with ``part=statistics``, a Facebook
    Page post with ``fields=reactions.summary(total_count)``, an Instagram media ``/insights``
    response) on the brand's posts it names; ids that are not the brand's stored posts come back
    as ``unknown``."""
    try:
        posts = engagement.counts_from_payload(platform, payload)
    except engagement.PayloadError as exc:
        raise HTTPException(422, str(exc)) from exc
    result = engagement.record_counts(session, platform, posts)
    audit(
        session,
        principal.name,
        "analytics.post_metrics",
        f"{platform}:{len(result['recorded'])}",
        unknown=result["unknown"],
    )
    return result


class ScheduleIn(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    every: str = Field("weekly", pattern="^(weekly|daily)$")
    weekday: int = Field(0, ge=0, le=6)
    hour: int = Field(8, ge=0, le=23)
    format: str = Field("md", pattern="^(md|csv|json)$")
    email_to: str = ""
    webhook_url: str = ""
    brand: str | None = None


@router.get("/api/v1/analytics-schedules", tags=["analytics"])
def list_schedules(
    session: DbSession, principal: Principal = require_role(*MANAGERS)
) -> list[dict[str, Any]]:
    return [
        reports.schedule_dict(s) for s in session.scalars(select(ReportSchedule).order_by(ReportSchedule.id))
    ]


@router.post("/api/v1/analytics-schedules", tags=["analytics"], status_code=201)
def create_schedule(
    body: ScheduleIn, session: DbSession, principal: Principal = require_role("admin")
) -> dict[str, Any]:
    try:
        schedule = reports.create_schedule(session, **body.model_dump())
    except reports.ReportError as exc:
        raise HTTPException(400, str(exc)) from exc
    audit(session, principal.name, "analytics.schedule_create", f"report_schedule:{schedule.id}")
    return reports.schedule_dict(schedule)


@router.delete("/api/v1/analytics-schedules/{schedule_id}", tags=["analytics"], status_code=204)
def delete_schedule(
    schedule_id: int, session: DbSession, principal: Principal = require_role("admin")
) -> Response:
    schedule = session.get(ReportSchedule, schedule_id)
    if schedule is None:
        raise HTTPException(404, f"no report schedule {schedule_id}")
    session.delete(schedule)
    audit(session, principal.name, "analytics.schedule_delete", f"report_schedule:{schedule_id}")
    return Response(status_code=204)


# --- the dashboard ---------------------------------------------------------------------------


def _page_principal(request: Request, session: Session) -> Principal:
    """The signed-in browser session, or a bearer token; else off to the login page."""
    principal = getattr(request.state, "principal", None)
    header = request.headers.get("authorization", "")
    if not isinstance(principal, Principal) and header.lower().startswith("bearer "):
        principal = authenticate_token(session, header[7:].strip())
    if not isinstance(principal, Principal):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise HTTPException(
            303, "sign in first", headers={"Location": f"/login?{urlencode({'next': target})}"}
        )
    if principal.role not in MANAGERS:
        raise HTTPException(403, f"analytics needs the role supervisor or admin; you are {principal.role}")
    return principal


def _dashboard_filters(session: Session, request: Request) -> tuple[Filters, dict[str, str]]:
    q = dict(request.query_params)
    if not q.get("since"):
        q["since"] = (utcnow() - timedelta(days=30)).date().isoformat()
    try:
        f = build_filters(
            session,
            since=q.get("since"),
            until=q.get("until") or None,
            brand=q.get("brand") or None,
            platform=q.get("platform") or None,
            team=q.get("team") or None,
            agent=q.get("agent") or None,
            language=q.get("language") or None,
            country=q.get("country") or None,
            business_hours=q.get("business_hours", "") in ("1", "true", "on"),
        )
    except FilterError as exc:
        raise HTTPException(400, str(exc)) from exc
    return f, {k: v for k, v in q.items() if v and k != "group_by"}


def _grain(f: Filters) -> str:
    end = f.until or utcnow()
    return "day" if f.since is None or (end - f.since) <= timedelta(days=62) else "week"


@router.get("/analytics", response_class=HTMLResponse, include_in_schema=False)
def dashboard(request: Request, session: DbSession) -> HTMLResponse:
    principal = _page_principal(request, session)
    request.state.principal = principal
    f, params = _dashboard_filters(session, request)
    ensure_fresh(session)
    grain = _grain(f)
    summary = dataset(session, "summary", f)
    by_platform = dataset(session, "volume-by-platform", f, grain)
    by_sentiment = dataset(session, "volume-by-sentiment", f, grain)
    frt = dataset(session, "first-response", f)
    resolution = dataset(session, "resolution", f)
    sla = dataset(session, "sla", f)
    csat_trend = dataset(session, "csat", f, grain)
    issue_types = dataset(session, "volume", f, "issue_type")
    agents = dataset(session, "agents", f)["groups"]
    languages = dataset(session, "cultural", f, "language")["groups"]
    countries = dataset(session, "cultural", f, "country")["groups"]

    def link(name: str, group_by: str | None = None) -> str:
        extra = {"group_by": group_by} if group_by else {}
        return f"/analytics/export/{name}.csv?{urlencode({**params, **extra})}"

    targets = sla["targets"]
    csat_groups = csat_trend.get("groups", [])
    issue_groups = sorted(issue_types.get("groups", []), key=lambda g: -g["conversations"])
    figures = [
        (
            "volume-platform",
            "Customer messages by platform",
            charts.lines("Customer messages by platform", by_platform["points"], by_platform["names"]),
            link("volume-by-platform", grain),
        ),
        (
            "volume-sentiment",
            "Customer messages by sentiment",
            charts.lines("Customer messages by sentiment", by_sentiment["points"], by_sentiment["names"]),
            link("volume-by-sentiment", grain),
        ),
        (
            "frt",
            "First response time",
            charts.bars(
                "First response time distribution",
                list(frt["overall"]["buckets"]),
                list(frt["overall"]["buckets"].values()),
            ),
            link("first-response"),
        ),
        (
            "resolution",
            "Resolution time",
            charts.bars(
                "Resolution time distribution",
                list(resolution["overall"]["buckets"]),
                list(resolution["overall"]["buckets"].values()),
                colour=charts.PALETTE[2],
            ),
            link("resolution"),
        ),
        (
            "sla",
            "SLA compliance",
            charts.bars(
                "SLA compliance per target",
                [t.replace("_", " ") for t in targets],
                [v["overall"]["compliance"] for v in targets.values()],
                fmt=charts.percent,
                colour=charts.PALETTE[3],
                ymax=1.0,
            ),
            link("sla"),
        ),
        (
            "csat",
            "CSAT trend",
            charts.bars(
                "CSAT (share of 4–5) over time",
                [g["key"][5:] for g in csat_groups],
                [g["csat"] for g in csat_groups],
                fmt=charts.percent,
                colour=charts.PALETTE[4],
                ymax=1.0,
            ),
            link("csat", grain),
        ),
        (
            "issues",
            "Issue types",
            charts.bars(
                "New conversations by issue type",
                [g["label"] or "untriaged" for g in issue_groups],
                [g["conversations"] for g in issue_groups],
                colour=charts.PALETTE[5],
            ),
            link("volume", "issue_type"),
        ),
    ]
    return _templates().TemplateResponse(
        request,
        "analytics/dashboard.html",
        {
            "summary": summary,
            "figures": figures,
            "agents": agents,
            "languages": languages,
            "countries": countries,
            "agents_csv": link("agents"),
            "languages_csv": link("cultural", "language"),
            "countries_csv": link("cultural", "country"),
            "params": params,
            "f": f,
            "options": _options(session),
            "fmt_duration": fmt_duration,
        },
    )


@router.get("/analytics/export/{name}.csv", include_in_schema=False)
def dashboard_export(name: str, request: Request, session: DbSession) -> Response:
    """The data behind a dashboard chart, with the dashboard's filters."""
    _page_principal(request, session)
    if name not in DATASETS:
        raise HTTPException(404, f"unknown figure {name!r}")
    f, _ = _dashboard_filters(session, request)
    ensure_fresh(session)
    try:
        result = dataset(session, name, f, request.query_params.get("group_by") or None)
    except FilterError as exc:
        raise HTTPException(400, str(exc)) from exc
    return _csv_response(name, result)


def _options(session: Session) -> dict[str, list[tuple[str, str]]]:
    return {
        "brand": [(b.slug, b.name) for b in session.scalars(select(Brand).order_by(Brand.name))],
        "team": [(t.slug, t.name) for t in session.scalars(select(Team).order_by(Team.name))],
        "agent": [(a.email, a.name) for a in session.scalars(select(Agent).order_by(Agent.name))],
        "platform": [
            (p, p)
            for p in ("x", "facebook", "instagram", "messenger", "whatsapp", "telegram", "youtube", "file")
        ],
    }


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600}h"


def _templates():
    from socialdesk.web.ui.templating import templates

    return templates


# --- the public survey page ------------------------------------------------------------------


def _survey_page(
    request: Request, survey: CsatSurvey | None, status: int = 200, **context: Any
) -> HTMLResponse:
    language = survey.language if survey is not None else "en"
    return _templates().TemplateResponse(
        request,
        "analytics/survey.html",
        {"survey": survey, "t": texts_for(language), "language": language, **context},
        status_code=status,
    )


@router.get("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_page(token: str, request: Request, session: DbSession) -> HTMLResponse:
    try:
        survey = survey_from_token(session, token)
    except SurveyError as exc:
        return _survey_page(request, None, exc.status, error=str(exc))
    if survey.rating is not None:
        return _survey_page(request, survey, 200, done=True)
    return _survey_page(request, survey, 200, token=token)


@router.post("/survey/{token}", response_class=HTMLResponse, include_in_schema=False)
def survey_submit(
    token: str,
    request: Request,
    session: DbSession,
    rating: Annotated[str, Form()] = "",
    comment: Annotated[str, Form()] = "",
) -> HTMLResponse:
    try:
        survey = survey_from_token(session, token)
        answer(session, survey, rating, comment, via="page", at=datetime.now(UTC))
    except SurveyError as exc:
        known = exc.status in (409, 422)
        return _survey_page(
            request,
            survey if known else None,
            exc.status,
            error=str(exc),
            token=token if exc.status == 422 else None,
        )
    return _survey_page(request, survey, 200, done=True)


@router.get("/analytics/", include_in_schema=False)
def dashboard_slash() -> RedirectResponse:
    return RedirectResponse("/analytics", status_code=308)
