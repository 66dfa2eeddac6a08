"""Who may open which page: signed-out visitors go to the login page; roles see their pages only."""

from __future__ import annotations

import pytest

from socialdesk.web.ui.views import router
from tests.web import factories

PAGES = {
    # path: roles that may open it
    "/": {"agent", "supervisor", "admin"},
    "/ui/list": {"agent", "supervisor", "admin"},
    "/ui/views": {"agent", "supervisor", "admin"},
    "/ui/conversations/{id}": {"agent", "supervisor", "admin"},
    "/ui/conversations/{id}/thread": {"agent", "supervisor", "admin"},
    "/ui/canned?conversation_id={id}": {"agent", "supervisor", "admin"},
    "/search?q=parcel": {"agent", "supervisor", "admin"},
    "/supervisor": {"supervisor", "admin"},
    "/ui/supervisor/board": {"supervisor", "admin"},
    "/settings": {"admin"},
    **{
        f"/settings?section={s}": {"admin"}
        for s in ("brands", "people", "sla", "canned", "automation", "listening")
    },
}
PUBLIC = {"/login", "/static/{path:path}"}


def test_the_table_covers_every_page_the_desk_serves():
    served = {r.path for r in router.routes if "GET" in getattr(r, "methods", set())} - PUBLIC
    listed = {p.split("?")[0].replace("{id}", "{conversation_id}") for p in PAGES}
    assert served - {"/ui/events"} <= listed


@pytest.fixture
def conversation_id(people, session):
    c = factories.conversation(session, people["account"], "my parcel is late")
    session.commit()
    return c.id


@pytest.mark.parametrize("path", sorted(PAGES))
def test_signed_out_visitors_are_sent_to_login(browser_for, conversation_id, path):
    b = browser_for()
    url = path.format(id=conversation_id)
    response = b.get(url, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    # htmx requests get a 401 with HX-Redirect, so the whole page goes to login.
    hx = b.get(url, headers={"HX-Request": "true"}, follow_redirects=False)
    assert hx.status_code == 401 and hx.headers["HX-Redirect"].startswith("/login")


def test_the_event_stream_needs_a_session(browser_for):
    assert browser_for().get("/ui/events", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("role", ["agent", "supervisor", "admin"])
def test_each_role_opens_exactly_its_pages(browser_for, conversation_id, role):
    b = browser_for(role)
    for path, roles in PAGES.items():
        response = b.get(path.format(id=conversation_id), follow_redirects=False)
        expected = 200 if role in roles else 403
        assert response.status_code == expected, (role, path, response.text[:200])


@pytest.mark.parametrize(
    ("role", "visible", "hidden"),
    [
        ("agent", ["Inbox"], ["Supervisor", "Listening", "Analytics", "Settings"]),
        ("supervisor", ["Inbox", "Supervisor", "Listening", "Analytics"], ["Settings"]),
        ("admin", ["Inbox", "Supervisor", "Listening", "Analytics", "Settings"], []),
    ],
)
def test_the_navigation_shows_each_role_its_pages(browser_for, role, visible, hidden):
    html = browser_for(role).get("/").text
    nav = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    for label in visible:
        assert f">{label}</a>" in nav
    for label in hidden:
        assert f">{label}</a>" not in nav


def test_settings_writes_are_admin_only(browser_for, people):
    for role in ("agent", "supervisor"):
        b = browser_for(role)
        response = b.post("/settings/people/team", data={"name": "Sneaky", "slug": "sneaky"})
        assert response.status_code == 403
    admin = browser_for("admin")
    assert admin.post("/settings/people/team", data={"name": "German", "slug": "de"}).status_code == 200
    assert "German" in admin.get("/settings?section=people").text


def test_static_files_are_served_and_nothing_outside(browser_for):
    b = browser_for()
    assert b.get("/static/vendor/htmx.min.js").status_code == 200
    assert "text/css" in b.get("/static/desk.css").headers["content-type"]
    assert b.get("/static/../session.py").status_code == 404
    assert b.get("/static/%2e%2e/session.py").status_code == 404
