"""The rollups' watermark row: two first refreshes at once must not collide creating it."""

from __future__ import annotations

import pytest

from socialdesk.analytics.models import RollupState
from socialdesk.analytics.rollup import WATERMARK, rebuild_all, refresh
from socialdesk.db.engine import get_sessionmaker


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def test_a_refresh_that_found_no_watermark_accepts_the_one_another_refresh_created(session, monkeypatch):
    # The scheduler's jobs and a dashboard can all refresh at once on a fresh database: each
    # looks for the watermark, finds none, and creates it. Here the other one wins the race.
    real_get = session.get
    looked: list[bool] = []

    def get(entity, key, **kw):
        if entity is RollupState and not looked:
            looked.append(True)
            with get_sessionmaker()() as other:
                other.add(RollupState(key=WATERMARK, value=0))
                other.commit()
            return None
        return real_get(entity, key, **kw)

    monkeypatch.setattr(session, "get", get)
    refresh(session)
    session.commit()
    with get_sessionmaker()() as check:
        assert [(s.key, s.value) for s in check.query(RollupState)] == [(WATERMARK, 0)]


def test_refresh_and_rebuild_create_the_watermark_once(session):
    refresh(session)
    rebuild_all(session)
    refresh(session)
    session.commit()
    assert session.query(RollupState).count() == 1
