"""Settings → CRM lookup (admin): each brand's order endpoint; the secret is write-only."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.brands.models import Brand
from socialdesk.customers import crm
from socialdesk.customers.models import CrmConfig
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.settings import done_redirect, read_flash
from socialdesk.web.ui.views import page_for, render

router = APIRouter(include_in_schema=False)


def _page(
    request: Request,
    session: Session,
    *,
    ok: str = "",
    error: str = "",
    status: int = 200,
    echo: dict[int, dict[str, str]] | None = None,
) -> HTMLResponse:
    brands = session.scalars(select(Brand).order_by(Brand.name)).all()
    configs = {c.brand_id: c for c in session.scalars(select(CrmConfig))}
    rows = []
    for b in brands:
        c = configs.get(b.id)
        form = {
            "endpoint_url": c.endpoint_url if c else "",
            "secret_header": c.secret_header if c else "Authorization",
            "enabled": "1" if (c is None or c.enabled) else "",
        }
        form.update((echo or {}).get(b.id, {}))
        rows.append({"brand": b, "config": c, "secret_set": bool(c and c.secret_value), "form": form})
    return render(
        request,
        "settings/crm.html",
        status,
        section="crm",
        rows=rows,
        ok=ok,
        error=error,
        timeout=crm.TIMEOUT.read,
        ttl=int(crm.CACHE_TTL),
    )


@router.get("/settings/crm", response_class=HTMLResponse)
def crm_page(request: Request, session: DbSession, ok: str = "") -> HTMLResponse:
    page_for(request, "admin")
    return _page(request, session, ok=read_flash(ok))


@router.post("/settings/crm/brands/{brand_id}/save", response_class=HTMLResponse)
async def save(request: Request, brand_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    form = {k: str(v) for k, v in (await request.form()).items() if k != "csrf_token"}
    try:
        crm.save_config(
            session,
            brand_id,
            endpoint_url=form.get("endpoint_url", ""),
            secret_header=form.get("secret_header", ""),
            secret=form.get("secret", ""),
            enabled=form.get("enabled") == "1",
            actor=principal,
        )
        session.commit()
    except crm.CrmError as exc:
        session.rollback()
        # Show what was typed again, except the secret (write-only, never echoed).
        echo = {brand_id: {k: form.get(k, "") for k in ("endpoint_url", "secret_header", "enabled")}}
        return _page(request, session, error=str(exc), status=400, echo=echo)
    return done_redirect("/settings/crm", "CRM lookup saved.")


@router.post("/settings/crm/brands/{brand_id}/remove", response_class=HTMLResponse)
def remove(request: Request, brand_id: int, session: DbSession) -> Response:
    principal = page_for(request, "admin")
    try:
        crm.remove_config(session, brand_id, actor=principal)
        session.commit()
    except crm.CrmError as exc:
        session.rollback()
        return _page(request, session, error=str(exc), status=404)
    return done_redirect("/settings/crm", "CRM lookup removed.")


@router.post("/settings/crm/brands/{brand_id}/test", response_class=HTMLResponse)
def test_connection(request: Request, brand_id: int, session: DbSession) -> Response:
    page_for(request, "admin")
    result = crm.check_connection(session, brand_id)
    if result.state == "ok":
        return _page(request, session, ok="The CRM answered as the contract says.")
    return _page(request, session, error=f"CRM test failed: {result.message}", status=502)
