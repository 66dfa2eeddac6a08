"""Error pages for the browser: a refused page is an HTML page, not JSON.

The JSON API (``/api/...``) and the webhooks keep FastAPI's JSON errors; an htmx request
gets a fragment it can show in place.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import HTMLResponse, Response
from markupsafe import escape
from starlette.exceptions import HTTPException as StarletteHTTPException

# Paths whose callers are programs: they keep the JSON error body.
MACHINE_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/docs", "/openapi.json")


def wants_html(request: Request) -> bool:
    return not request.url.path.startswith(MACHINE_PREFIXES)


async def forbidden_page(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code != 403 or not wants_html(request):
        return await http_exception_handler(request, exc)
    detail = str(exc.detail or "You may not open this page.")
    if request.headers.get("hx-request"):
        return HTMLResponse(
            f'<div class="flash-error" role="alert">Access denied: {escape(detail)}</div>',
            status_code=403,
            headers={"HX-Reswap": "innerHTML"},
        )
    from socialdesk.web.ui.templating import templates

    return templates.TemplateResponse(request, "error_403.html", {"detail": detail}, status_code=403)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, forbidden_page)
