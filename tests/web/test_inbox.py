"""The inbox's views, filters and sorts, the conversation pane and the desk's actions."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from socialdesk.auth.models import AuditEntry
from socialdesk.auth.service import Principal
from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Conversation, Message, Note
from socialdesk.db.base import utcnow
from socialdesk.outbox.models import OutboxItem
from socialdesk.web.ui import inbox
from socialdesk.web.ui.models import SavedFilter
from tests.web import factories


def principal_of(agent) -> Principal:
    return Principal(name=agent.name, role=agent.role, agent_id=agent.id)


@pytest.fixture
def desk(session, people):
    """Four conversations with distinct triage, SLA and assignment."""
    account, now = people["account"], utcnow()
    rows = {
        "late": factories.conversation(
            session,
            account,
            "parcel late",
            at=now - timedelta(hours=3),
            sentiment="negative",
            language="en",
            priority="high",
            assignee_id=people["agent"].id,
            labels=["shipping"],
            first_response_due_at=now - timedelta(minutes=5),
        ),
        "soon": factories.conversation(
            session,
            account,
            "refund please",
            at=now - timedelta(hours=2),
            sentiment="neutral",
            language="de",
            priority="urgent",
            team_id=people["team"].id,
            first_response_due_at=now + timedelta(minutes=10),
        ),
        "later": factories.conversation(
            session,
            account,
            "love it",
            at=now - timedelta(hours=1),
            sentiment="positive",
            language="en",
            first_response_due_at=now + timedelta(hours=5),
        ),
        "done": factories.conversation(session, account, "thanks, solved", at=now, status="resolved"),
    }
    session.commit()
    return rows


def ids(rows):
    return [r.conversation.id for r in rows]


def test_views_select_and_count(session, people, desk):
    me = principal_of(people["agent"])
    assert ids(inbox.list_inbox(session, me, inbox.InboxQuery("mine"))) == [desk["late"].id]
    assert set(ids(inbox.list_inbox(session, me, inbox.InboxQuery("unassigned")))) == {
        desk["soon"].id,
        desk["later"].id,
    }
    assert desk["done"].id not in ids(inbox.list_inbox(session, me, inbox.InboxQuery("all_open")))
    assert desk["done"].id in ids(inbox.list_inbox(session, me, inbox.InboxQuery("all")))
    team = inbox.InboxQuery(f"team:{people['team'].id}")
    assert ids(inbox.list_inbox(session, me, team)) == [desk["soon"].id]
    assert ids(inbox.list_inbox(session, me, inbox.InboxQuery("label:shipping"))) == [desk["late"].id]
    counts = {v.key: v.count for v in inbox.views_for(session, me)}
    assert (
        counts["mine"] == 1 and counts["unassigned"] == 2 and counts["all_open"] == 3 and counts["all"] == 4
    )
    assert counts[f"team:{people['team'].id}"] == 1 and counts["label:shipping"] == 1


def test_sorts_by_sla_due_priority_and_newest(session, people, desk):
    me = principal_of(people["agent"])
    by = {s: ids(inbox.list_inbox(session, me, inbox.InboxQuery("all_open", sort=s))) for s in inbox.SORTS}
    assert by["sla"] == [desk["late"].id, desk["soon"].id, desk["later"].id]
    assert by["priority"] == [desk["soon"].id, desk["late"].id, desk["later"].id]
    assert by["newest"] == [desk["later"].id, desk["soon"].id, desk["late"].id]


def test_sla_state_turns_amber_then_red(session, people, desk):
    rows = {
        r.conversation.id: r
        for r in inbox.list_inbox(session, principal_of(people["agent"]), inbox.InboxQuery())
    }
    assert rows[desk["late"].id].sla_state == "red"
    assert rows[desk["soon"].id].sla_state == "amber"
    assert rows[desk["later"].id].sla_state == "ok"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sentiment": "negative"}, ["late"]),
        ({"language": "de"}, ["soon"]),
        ({"priority": "urgent"}, ["soon"]),
        ({"label": "shipping"}, ["late"]),
        ({"assignee": "none"}, ["soon", "later"]),
        ({"status": "resolved"}, ["done"]),
        ({"platform": "facebook"}, []),
    ],
)
def test_filters(session, people, desk, params, expected):
    q = inbox.InboxQuery.from_params({"view": "all_open", "sort": "newest", **params})
    got = ids(inbox.list_inbox(session, principal_of(people["agent"]), q))
    assert sorted(got) == sorted(desk[k].id for k in expected)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("sort=loudest", "unknown sort"),
        ("status=maybe", "unknown status"),
        ("view=everything", "unknown view"),
        ("brand=nope", "no brand named"),
        ("assignee=bob", "assignee must be"),
    ],
)
def test_bad_inbox_parameters_get_a_clear_400(browser_for, query, message):
    response = browser_for("agent").get(f"/ui/list?{query}")
    assert response.status_code == 400
    assert message in response.json()["detail"]


def test_the_list_page_shows_badges_and_countdowns(browser_for, desk):
    html = browser_for("agent").get("/?view=all_open").text
    assert html.count('<li class="conv') == 3
    assert 'class="badge negative"' in html and 'class="badge urgent"' in html
    assert 'sla red" data-due=' in html and 'sla amber" data-due=' in html
    assert "Dana Miller" in html and "@user" in html


def test_the_pane_shows_thread_notes_chips_and_customer(browser_for, session, people, desk):
    c = desk["late"]
    message = session.scalar(select(Message).where(Message.conversation_id == c.id))
    message.triage = {
        "language": {"code": "en", "confidence": 0.97, "method": "model"},
        "sentiment": {
            "label": "negative",
            "probabilities": {"negative": 0.81, "neutral": 0.15, "positive": 0.04},
        },
        "issue_type": {"label": "order_status", "confidence": 0.7, "reasons": ["matched 'parcel'"]},
        "emotion": {"label": "anger", "probabilities": {}, "reading": "frustrated"},
        "offensive": {"label": False, "probability": 0.02},
        "pii": [],
        "urgency": {"score": 55, "reasons": ["strong negativity", "repeated contact"]},
        "explanations": {"sentiment": ["late", "never"]},
    }
    session.add(
        Note(conversation_id=c.id, author_agent_id=people["colleague"].id, body="Checked the carrier.")
    )
    session.commit()
    html = browser_for("agent").get(f"/ui/conversations/{c.id}").text
    assert 'class="note"' in html and "Checked the carrier." in html and "Bob Agent" in html
    assert "urgency 55" in html and "strong negativity; repeated contact" in html
    assert "negative 81%" in html and "late; never" in html
    assert "order status" in html and "matched &#39;parcel&#39;" in html
    assert 'id="reply-checks"' in html and 'id="csat-history"' in html
    assert 'data-limit-public="280"' in html
    assert "@user" in html  # identity handle in the customer panel


def test_an_empty_reply_is_refused_and_nothing_is_queued(browser_for, session, desk):
    b = browser_for("agent")
    response = b.post(f"/ui/conversations/{desk['late'].id}/reply", data={"text": "   ", "mode": "send"})
    assert response.status_code == 400 and "The reply is empty." in response.text
    assert session.scalar(select(func.count(OutboxItem.id))) == 0


def test_an_over_long_x_reply_is_refused_server_side_too(browser_for, session, desk):
    b = browser_for("agent")
    response = b.post(f"/ui/conversations/{desk['late'].id}/reply", data={"text": "a" * 281, "mode": "send"})
    assert response.status_code == 400 and "280" in response.text
    assert session.scalar(select(func.count(OutboxItem.id))) == 0


def test_send_and_resolve_queues_the_reply_and_resolves(browser_for, session, desk):
    b = browser_for("agent")
    c = desk["late"]
    response = b.post(
        f"/ui/conversations/{c.id}/reply", data={"text": "We are on it, Dana.", "mode": "send_resolve"}
    )
    assert response.status_code == 200 and "resolved" in response.text
    session.expire_all()
    assert session.get(Conversation, c.id).status == "resolved"
    item = session.scalar(select(OutboxItem).where(OutboxItem.conversation_id == c.id))
    assert item is not None and item.state == "queued"


def test_unknown_send_mode_and_bad_status_are_refused(browser_for, session, desk):
    b = browser_for("agent")
    c = desk["late"]
    assert (
        "unknown send mode"
        in b.post(f"/ui/conversations/{c.id}/reply", data={"text": "x", "mode": "shout"}).text
    )
    bad = b.post(f"/ui/conversations/{c.id}/status", data={"status": "vanished"})
    assert bad.status_code == 400 and "unknown status" in bad.text
    session.expire_all()
    assert session.get(Conversation, c.id).status == "new"


def test_missing_conversation_is_404(browser_for):
    assert browser_for("agent").get("/ui/conversations/999999").status_code == 404


def test_agents_assign_only_themselves_supervisors_anyone(browser_for, session, people, desk):
    c = desk["later"]
    agent = browser_for("agent")
    refused = agent.post(f"/ui/conversations/{c.id}/assign", data={"agent_id": str(people["colleague"].id)})
    assert refused.status_code == 400 and "only to themselves" in refused.text
    assert (
        agent.post(f"/ui/conversations/{c.id}/assign", data={"agent_id": str(people["agent"].id)}).status_code
        == 200
    )
    session.expire_all()
    assert session.get(Conversation, c.id).assignee_id == people["agent"].id
    sup = browser_for("supervisor")
    assert (
        sup.post(
            f"/ui/conversations/{c.id}/assign", data={"agent_id": str(people["colleague"].id)}
        ).status_code
        == 200
    )
    session.expire_all()
    assert session.get(Conversation, c.id).assignee_id == people["colleague"].id


def test_bulk_actions(browser_for, session, people, desk):
    sup = browser_for("supervisor")
    chosen = [desk["soon"].id, desk["later"].id]
    none = sup.post("/ui/bulk", data={"action": "resolve"})
    assert none.status_code == 400 and "Select at least one" in none.text
    unknown = sup.post("/ui/bulk", data={"action": "explode", "ids": chosen})
    assert unknown.status_code == 400 and "unknown bulk action" in unknown.text
    done = sup.post(
        "/ui/bulk", data={"action": "assign", "agent_id": str(people["colleague"].id), "ids": chosen}
    )
    assert done.status_code == 200 and "2 conversations changed" in done.text
    assert done.headers["HX-Trigger"] == "inbox-refresh"
    session.expire_all()
    assert {session.get(Conversation, i).assignee_id for i in chosen} == {people["colleague"].id}
    labelled = sup.post("/ui/bulk", data={"action": "add_labels", "labels": "vip, refund", "ids": chosen})
    assert labelled.status_code == 200
    session.expire_all()
    assert set(session.get(Conversation, chosen[0]).labels) >= {"vip", "refund"}
    assert (
        session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action.like("conversations.bulk.%"))
        )
        == 2
    )


def test_an_agent_cannot_bulk_assign_a_colleague(browser_for, people, desk):
    b = browser_for("agent")
    response = b.post(
        "/ui/bulk",
        data={"action": "assign", "agent_id": str(people["colleague"].id), "ids": [desk["soon"].id]},
    )
    assert response.status_code == 400 and "only to themselves" in response.text


def test_saved_filters_show_with_counts(browser_for, session, people, desk):
    b = browser_for("agent")
    assert b.post("/ui/saved-filters", data={"name": "", "query": "?view=all_open"}).status_code == 400
    assert b.post("/ui/saved-filters", data={"name": "Bad", "query": "?sort=loudest"}).status_code == 400
    ok = b.post("/ui/saved-filters", data={"name": "Angry", "query": "?view=all_open&sentiment=negative"})
    assert ok.status_code == 200
    assert session.scalar(select(func.count(SavedFilter.id))) == 1
    views = b.get("/ui/views").text
    assert "Angry" in views and '<span class="count">1</span>' in views.split("Angry", 1)[1][:80]


def test_notes_and_labels_from_the_pane(browser_for, session, desk):
    b = browser_for("agent")
    c = desk["later"]
    assert b.post(f"/ui/conversations/{c.id}/note", data={"body": " "}).status_code == 400
    assert b.post(f"/ui/conversations/{c.id}/note", data={"body": "Call them back"}).status_code == 200
    assert b.post(f"/ui/conversations/{c.id}/labels", data={"add": "praise"}).status_code == 200
    session.expire_all()
    assert session.get(Conversation, c.id).labels == ["praise"]
    assert session.scalar(select(Note.body).where(Note.conversation_id == c.id)) == "Call them back"


def test_the_reply_checker_warns_as_the_agent_types(browser_for, desk):
    b = browser_for("agent")
    html = b.post(
        "/ui/check-reply", data={"conversation_id": desk["late"].id, "text": "a" * 300, "public": "1"}
    ).text
    assert 'data-code="over_limit"' in html
    clean = b.post(
        "/ui/check-reply",
        data={
            "conversation_id": desk["later"].id,
            "text": "Thanks so much, glad you like it!",
            "public": "1",
        },
    ).text
    assert "over_limit" not in clean


def test_canned_responses_by_shortcode_render_for_the_customer(browser_for, session, desk):
    from socialdesk.assist.models import ReplyTemplate

    session.add(
        ReplyTemplate(
            name="Thanks",
            shortcode="thx",
            bodies={"en": "Thank you {{ customer.first_name }}!"},
            default_locale="en",
            approval="approved",
        )
    )
    session.add(
        ReplyTemplate(
            name="Gone", shortcode="gone", bodies={"en": "x"}, default_locale="en", approval="rejected"
        )
    )
    session.commit()
    b = browser_for("agent")
    html = b.get(f"/ui/canned?conversation_id={desk['later'].id}&q=/th").text
    assert 'data-text="Thank you Dana!"' in html
    assert "gone" not in b.get(f"/ui/canned?conversation_id={desk['later'].id}&q=").text


def test_settings_secrets_are_write_only(browser_for, session, people):
    admin = browser_for("admin")
    account = people["account"]
    page = admin.get("/settings?section=brands").text
    assert "app_secret set" in page and "access_token missing" in page and "app-secret" not in page
    empty = admin.post("/settings/brands/secrets", data={"account_id": account.id})
    assert empty.status_code == 400 and "at least one new secret" in empty.text
    saved = admin.post(
        "/settings/brands/secrets", data={"account_id": account.id, "access_token": "tok-123456"}
    )
    assert saved.status_code == 200 and "tok-123456" not in saved.text and "access_token set" in saved.text
    session.expire_all()
    assert session.get(SocialAccount, account.id).access_token == "tok-123456"
    entry = session.scalar(select(AuditEntry).where(AuditEntry.action == "account.secrets"))
    assert entry.data == {"changed": ["access_token"]}


def test_settings_bad_input_changes_nothing(browser_for, session):
    admin = browser_for("admin")
    bad = admin.post("/settings/people/team", data={"name": "X", "slug": "Not A Slug"})
    assert bad.status_code == 400 and "slug" in bad.text
    bad = admin.post(
        "/settings/canned/create", data={"name": "Broken", "body": "{{ unclosed", "locale": "en"}
    )
    assert bad.status_code == 400
    assert admin.post("/settings/nope/create", data={}).status_code == 404
    from socialdesk.assist.models import ReplyTemplate
    from socialdesk.routing.models import Team

    assert session.scalar(select(func.count(Team.id)).where(Team.slug == "Not A Slug")) == 0
    assert session.scalar(select(func.count(ReplyTemplate.id))) == 0


def test_supervisor_board_counts_queues_agents_and_volume(session, people, desk):
    from socialdesk.web.ui.supervisor import board

    b = board(session)
    care = next(q for q in b.queues if q.team_id == people["team"].id)
    no_team = next(q for q in b.queues if q.team_id is None)
    assert (care.open, care.at_risk, care.breached) == (1, 1, 0)
    assert (no_team.open, no_team.breached) == (2, 1)
    alice = next(a for a in b.agents if a.name == people["agent"].name)
    assert alice.open == 1
    # Only the newest message arrived within the hour; it has no triage yet.
    assert b.volume == {"x": {"untriaged": 1}}


def test_move_to_dm_posts_a_public_nudge_and_opens_the_private_part(browser_for, session, desk):
    b = browser_for("agent")
    c = desk["late"]
    response = b.post(
        f"/ui/conversations/{c.id}/reply",
        data={"text": "Could you DM us your order number?", "mode": "move_to_dm"},
    )
    assert response.status_code == 200, response.text
    assert "private conversation opened" in response.text
    items = session.scalars(select(OutboxItem).where(OutboxItem.conversation_id == c.id)).all()
    assert sorted(i.is_public for i in items) == [False, True]
    session.expire_all()
    assert session.get(Conversation, c.id).visibility == "mixed"


def test_the_search_page_explains_a_query_without_words(browser_for):
    response = browser_for("agent").get("/search?q=%21%21%21")
    assert response.status_code == 400
    assert "Type at least one word" in response.text
