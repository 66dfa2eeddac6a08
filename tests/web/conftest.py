"""Fixtures for the desk's server-side tests: signed-in TestClients per role."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from tests.web import factories

CSRF_META = re.compile(r'name="csrf-token" content="([^"]+)"')
LOGIN_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class Browser:
    """A TestClient that signs in like a browser and remembers the page's CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.csrf = ""

    def login(self, email: str, password: str = factories.PASSWORD) -> Any:
        page = self.client.get("/login")
        token = LOGIN_CSRF.search(page.text).group(1)  # type: ignore[union-attr]
        response = self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}, follow_redirects=False
        )
        if response.status_code == 303:
            home = self.client.get("/")
            self.csrf = CSRF_META.search(home.text).group(1)  # type: ignore[union-attr]
        return response

    def post(self, url: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
        return self.client.post(
            url, data=data, headers={"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}, **kw
        )

    def get(self, url: str, **kw: Any) -> Any:
        return self.client.get(url, **kw)


@pytest.fixture
def people(session: Session) -> dict[str, Any]:
    """An agent, a supervisor and an admin who can sign in; a team; an X account."""
    care = factories.team(session, "Care", slug="care")
    agent = factories.agent(session, "agent", name="Alice Agent", email="alice@example.com")
    care.agents.append(agent)
    out = {
        "team": care,
        "agent": agent,
        "colleague": factories.agent(session, "agent", name="Bob Agent", email="bob@example.com"),
        "supervisor": factories.agent(session, "supervisor", name="Sam Sup", email="sam@example.com"),
        "admin": factories.agent(session, "admin", name="Ada Admin", email="ada@example.com"),
        "account": factories.brand_with_account(session, "x", slug="acme-x", brand_name="Acme"),
    }
    session.commit()
    return out


@pytest.fixture
def browser_for(app: Any, people: dict[str, Any]) -> Iterator[Callable[[str], Browser]]:
    clients: list[TestClient] = []

    def make(role: str | None = None) -> Browser:
        client = TestClient(app, base_url="http://testserver")
        client.__enter__()
        clients.append(client)
        b = Browser(client)
        if role is not None:
            response = b.login(people[role].email)
            assert response.status_code == 303, response.text
        return b

    yield make
    for c in clients:
        c.__exit__(None, None, None)
