"""Queueing replies: platform limits, X thread splits, messaging windows, handoff rules, the API."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.assist import templates
from socialdesk.conversations.models import ConversationEvent, Message
from socialdesk.db.base import utcnow
from socialdesk.outbox import service
from socialdesk.outbox.models import OutboxItem
from socialdesk.platforms.fake_server import RunningFakeServer, running_fake_server
from socialdesk.platforms.x import CONNECTOR as X
from tests import factories
from tests.outbox import factories as f


@pytest.fixture(scope="module")
def fake() -> Iterator[RunningFakeServer]:
    with running_fake_server() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh_fake(fake: RunningFakeServer) -> None:
    fake.reset()


def fresh(session, model, ident):
    session.expire_all()
    return session.get(model, ident)


def item_for(session, message: Message) -> OutboxItem:
    return session.scalars(select(OutboxItem).where(OutboxItem.message_id == message.id)).one()


# --- limits and splits ---------------------------------------------------------------------------


def test_an_over_long_x_post_is_refused_with_the_limit_the_length_and_the_split_offer(session):
    conversation = f.conversation(session, platform="x")
    text = "We are so sorry about the delay with your parcel. " * 7
    with pytest.raises(service.LimitError) as error:
        service.queue_reply(session, conversation, text, actor=None)
    assert error.value.limit == 280
    assert error.value.length == X.text_length(text.strip()) > 280
    assert "split=true" in str(error.value) and f"thread of {error.value.parts} posts" in str(error.value)
    assert session.scalars(select(OutboxItem)).all() == []


def test_with_split_an_x_post_becomes_a_numbered_thread_each_within_280(session):
    conversation = f.conversation(session, platform="x")
    text = " ".join(f"word{i}" for i in range(120))
    first = service.queue_reply(session, conversation, text, actor=None, split=True)
    items = session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
    parts = [session.get(Message, i.message_id).text for i in items]
    assert len(parts) >= 3 and first.id == items[0].message_id
    assert all(X.text_length(p) <= 280 for p in parts)
    assert [p.rsplit(" ", 1)[1] for p in parts] == [f"({n}/{len(parts)})" for n in range(1, len(parts) + 1)]
    assert " ".join(p.rsplit(" ", 1)[0] for p in parts) == text
    assert [i.after_item_id for i in items] == [None] + [i.id for i in items[:-1]]


def test_other_platforms_refuse_over_long_text_without_a_split(session):
    conversation = f.conversation(session, platform="messenger", public=False)
    with pytest.raises(service.LimitError, match="over Messenger's private limit of 2000; shorten it by 1"):
        service.queue_reply(session, conversation, "a" * 2001, actor=None)
    with pytest.raises(service.ReplyError):
        service.queue_reply(session, conversation, "a" * 2001, actor=None, split=True)


# --- messaging windows ---------------------------------------------------------------------------


def test_meta_private_replies_are_refused_after_the_24_hour_window(session):
    now = utcnow()
    inside = f.conversation(session, platform="instagram", public=False, at=now - timedelta(hours=23))
    assert (
        service.queue_reply(session, inside, "Happy to help!", actor=None, now=now).delivery_status
        == "queued"
    )
    outside = f.conversation(session, platform="messenger", public=False, at=now - timedelta(hours=25))
    with pytest.raises(service.WindowError, match="24-hour messaging window .* 25 hours ago"):
        service.queue_reply(session, outside, "Happy to help!", actor=None, now=now)


def test_whatsapp_outside_its_window_only_takes_an_approved_template(session):
    now = utcnow()
    conversation = f.conversation(session, platform="whatsapp", public=False, at=now - timedelta(hours=30))
    with pytest.raises(service.WindowError, match="only an approved template"):
        service.queue_reply(session, conversation, "Any news?", actor=None, now=now)
    template = templates.create_template(
        session,
        templates.TemplateInput(
            name="follow up",
            bodies={"en": "Hi {{ customer.first_name }}, any news?"},
            whatsapp_template_name="order_follow_up",
        ),
        actor=None,
    )
    agent = f.principal(f.agent(session))
    with pytest.raises(service.WindowError):  # an agent may use a draft, but not outside the window
        service.queue_reply(session, conversation, "", actor=agent, template_id=template.id, now=now)
    with pytest.raises(service.ReplyError, match="approved ones only"):  # automation: approved only
        service.queue_reply(session, conversation, "", actor=None, template_id=template.id, now=now)
    templates.set_approval(session, template, "approved", actor=None)
    message = service.queue_reply(session, conversation, "", actor=None, template_id=template.id, now=now)
    item = item_for(session, message)
    assert item.platform_template == "order_follow_up" and item.platform_template_language == "en"
    assert item.automatic is True


# --- handoff rules ---------------------------------------------------------------------------------


def test_handoff_is_refused_where_there_is_no_public_message_to_answer(session):
    dm = f.conversation(session, platform="x", public=False)
    with pytest.raises(service.ReplyError, match="public customer message"):
        service.handoff(session, dm, actor=None)
    telegram = f.conversation(session, platform="telegram")
    with pytest.raises(service.ReplyError, match="handoff works on"):
        service.handoff(session, telegram, actor=None)


# --- API ---------------------------------------------------------------------------------------


def test_reply_api_queues_and_explains_limits(session, client):
    anna = f.agent(session)
    auth = f.headers(session, "agent", anna)
    conversation = f.conversation(session, platform="x")
    url = f"/api/v1/conversations/{conversation.id}/replies"

    too_long = client.post(url, json={"text": "x" * 300}, headers=auth)
    assert too_long.status_code == 422
    assert too_long.json()["detail"]["limit"] == 280 and too_long.json()["detail"]["length"] == 300
    assert client.post(url, json={"text": "  "}, headers=auth).status_code == 422

    ok = client.post(url, json={"text": "We're on it."}, headers=auth)
    assert ok.status_code == 201
    assert ok.json()["message"]["delivery_status"] == "queued"
    assert [i["state"] for i in ok.json()["outbox"]] == ["queued"]
    split = client.post(url, json={"text": "word " * 80, "split": True}, headers=auth)
    assert len(split.json()["outbox"]) == 2
    assert [i["state"] for i in client.get(url, headers=auth).json()] == ["queued"] * 3

    assert client.get("/api/v1/outbox", headers=auth).status_code == 403
    supervisor = f.headers(session, "supervisor")
    assert len(client.get("/api/v1/outbox?state=queued", headers=supervisor).json()) == 3
    assert client.get("/api/v1/outbox?state=lost", headers=supervisor).status_code == 422
    handoff = client.post(f"/api/v1/conversations/{conversation.id}/handoff", json={}, headers=auth)
    assert handoff.status_code == 201
    author = handoff.json()["private"]["thread_key"]
    assert handoff.json()["dm_thread_keys"][0] == author and handoff.json()["visibility"] == "mixed"
    session.expire_all()
    message = session.get(Message, ok.json()["message"]["id"])
    assert message.sent_by_agent_id == anna.id


def test_handoff_links_the_customers_open_private_conversation_on_the_same_account(session):
    account = factories.account(session, "x")
    dm = f.conversation(session, account=account, public=False, author_id="77")
    public = f.conversation(session, account=account, public=True, author_id="77")
    assert dm.customer_id == public.customer_id and dm.id != public.id
    service.handoff(session, public, actor=None, private_text="Here is the DM")
    event = session.scalars(select(ConversationEvent).where(ConversationEvent.kind == "handoff")).one()
    assert event.conversation_id == public.id
    assert event.data["linked_conversation_id"] == dm.id
    linked = session.scalars(
        select(ConversationEvent).where(ConversationEvent.kind == "handoff_linked")
    ).one()
    assert linked.conversation_id == dm.id and linked.data["from_conversation_id"] == public.id
    assert public.visibility == "mixed"
