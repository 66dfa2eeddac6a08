"""Full-text search over messages and customers, on SQLite (FTS5) and PostgreSQL (tsvector)."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from socialdesk.conversations.models import Message
from socialdesk.customers.models import Customer, Identity
from socialdesk.search.service import SearchError, search
from tests.web import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def corpus(session):
    account = factories.brand_with_account(session, "x")
    convs = {
        "refund": factories.conversation(
            session,
            account,
            "I want a refund for order 88123, it arrived broken",
            customer_name="Renée Dubois",
            handle="renee_d",
        ),
        "login": factories.conversation(
            session,
            account,
            "Cannot log in to my account since the update",
            customer_name="Tom Baker",
            handle="tbaker",
        ),
        "german": factories.conversation(
            session,
            account,
            "Meine Rückerstattung ist noch nicht angekommen",
            customer_name="Jürgen Müller",
            handle="jmueller",
        ),
    }
    session.commit()
    return convs


def conv_ids(results):
    return {m.conversation_id for m in results.messages}


def test_every_word_must_match_each_as_a_prefix(session, corpus):
    assert conv_ids(search(session, "refun")) == {corpus["refund"].id}
    assert conv_ids(search(session, "refund broken")) == {corpus["refund"].id}
    assert conv_ids(search(session, "refund login")) == set()
    assert conv_ids(search(session, "88123")) == {corpus["refund"].id}
    assert conv_ids(search(session, "LOG IN")) == {corpus["login"].id}


def test_non_latin_words_and_umlauts_are_found(session, corpus):
    assert conv_ids(search(session, "Rückerstattung")) == {corpus["german"].id}


def test_customers_by_name_email_and_handle(session, corpus):
    customer = session.get(Customer, corpus["login"].customer_id)
    customer.email = "tom.baker@example.org"
    session.commit()
    assert [c.name for c in search(session, "tbaker").customers] == ["Tom Baker"]
    assert [c.name for c in search(session, "tom.baker@example.org").customers] == ["Tom Baker"]
    assert [c.name for c in search(session, "Renée").customers] == ["Renée Dubois"]
    hit = search(session, "renee_d").customers[0]
    assert hit.handles == ["x:@renee_d"]


def test_the_index_follows_inserts_updates_and_deletes(session, corpus):
    message = session.query(Message).filter_by(conversation_id=corpus["login"].id).one()
    message.text = "Password reset email never came"
    session.commit()
    assert conv_ids(search(session, "password reset")) == {corpus["login"].id}
    assert conv_ids(search(session, "update")) == set()
    identity = Identity(
        customer_id=corpus["login"].customer_id,
        platform="instagram",
        external_user_id="ig9",
        handle="tom_on_insta",
    )
    session.add(identity)
    session.commit()
    assert [c.name for c in search(session, "tom_on_insta").customers] == ["Tom Baker"]
    session.delete(identity)
    session.commit()
    assert search(session, "tom_on_insta").customers == []


def test_snippets_mark_the_match(session, corpus):
    snippet = search(session, "broken").messages[0].snippet
    assert "[broken]" in snippet


@pytest.mark.parametrize("query", ["", "   ", "!!! ???", " ".join(["w"] * 13)])
def test_queries_without_words_or_with_too_many_are_refused(session, query):
    with pytest.raises(SearchError):
        search(session, query)


def test_query_syntax_cannot_break_out(session, corpus):
    # FTS5 / tsquery operators in the input are just punctuation to us.
    for query in [
        'refund" OR "login',
        "refund) | (login",
        "NEAR(refund login)",
        "refund:* & !login",
        "'; DROP",
    ]:
        results = search(session, query)
        assert corpus["login"].id not in conv_ids(results)


def test_the_search_page_reports_bad_queries(client, session):
    # Signed out: sent to the login page; the page itself is covered in tests/web.
    assert client.get("/search?q=x", follow_redirects=False).status_code == 303


def test_the_migration_builds_and_fills_the_index(tmp_path, session):
    """An existing database gains the index with its old rows already searchable."""
    from socialdesk.db.engine import make_engine
    from socialdesk.db.migrate import upgrade

    if session.get_bind().dialect.name != "sqlite":
        pytest.skip("the PostgreSQL index is a plain expression index; the migration test covers it")
    engine = make_engine(f"sqlite:///{tmp_path / 'migrated.db'}")
    upgrade(engine)
    with engine.begin() as conn:
        names = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE '%_fts%'"))}
        assert {"message_fts", "customer_fts", "identity_fts", "message_fts_ai", "message_fts_au"} <= names
        conn.execute(
            text(
                "INSERT INTO customer (name, email, phone, locale, country, followers, vip, tags, notes, "
                "created_at) VALUES ('Zed Zebra', '', '', '', '', 0, 0, '[]', '', '2026-01-01')"
            )
        )
        conn.execute(text("DELETE FROM customer_fts"))  # simulate rows from before the index existed
        conn.execute(text("INSERT INTO customer_fts(customer_fts) VALUES ('rebuild')"))
        found = conn.execute(text("SELECT rowid FROM customer_fts WHERE customer_fts MATCH 'zebra'")).all()
        assert len(found) == 1
    engine.dispose()
