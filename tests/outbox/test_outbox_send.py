"""Sending the outbox: idempotency keys, backoff, final 4xx, thread order, crisis pause, handoff,
on SQLite and PostgreSQL.

Sends go to the local fake platform server (``platforms/fake_server.py``) over real HTTP.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import Conversation, ConversationEvent, Message
from socialdesk.db.base import utcnow
from socialdesk.outbox import service
from socialdesk.outbox.models import OutboxItem
from socialdesk.outbox.sender import Sender, backoff
from socialdesk.platforms.fake_server import RunningFakeServer, running_fake_server
from tests.outbox import factories as f


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


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


# --- sending ---------------------------------------------------------------------------------------


def test_the_sender_delivers_with_an_idempotency_key_and_records_the_platform_id(session, fake):
    anna = f.agent(session)
    conversation = f.conversation(session, platform="x", api_base_url=fake.base_url)
    message = service.queue_reply(session, conversation, "Sorry! Checking now.", actor=f.principal(anna))
    session.commit()
    item = item_for(session, message)

    report = Sender().send_due()
    assert report.sent == [item.id]
    (request,) = fake.requests
    assert request["path"] == "/2/tweets"
    assert request["json"]["reply"]["in_reply_to_tweet_id"] == conversation.thread_key
    assert request["headers"]["idempotency-key"] == item.idempotency_key
    stored = fresh(session, Message, message.id)
    assert stored.external_id.startswith("18") and stored.delivery_status == "sent"
    conv = session.get(Conversation, conversation.id)
    assert conv.first_response_at is not None and conv.status == "open" and conv.waiting_since is None
    assert fresh(session, OutboxItem, item.id).state == "sent"
    assert Sender().send_due().sent == []  # nothing is sent twice


def test_retryable_failures_back_off_exponentially_then_succeed_with_the_same_key(session, fake):
    conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
    message = service.queue_reply(session, conversation, "On it!", actor=None)
    session.commit()
    item_id = item_for(session, message).id
    sender = Sender(base_delay=timedelta(seconds=10))
    fake.fail_next(2, status=503)

    t0 = utcnow()
    assert sender.send_due(now=t0).retrying == [item_id]
    first = fresh(session, OutboxItem, item_id)
    assert (first.state, first.attempts, first.last_status) == ("queued", 1, 503)
    assert first.next_attempt_at == t0 + timedelta(seconds=10)
    assert sender.send_due(now=t0 + timedelta(seconds=5)).retrying == []  # not due yet

    t1 = t0 + timedelta(seconds=10)
    assert sender.send_due(now=t1).retrying == [item_id]
    assert fresh(session, OutboxItem, item_id).next_attempt_at == t1 + timedelta(seconds=20)
    assert sender.send_due(now=t1 + timedelta(seconds=20)).sent == [item_id]
    assert fresh(session, Message, message.id).delivery_status == "sent"
    keys = {r["headers"]["idempotency-key"] for r in fake.requests}
    assert len(fake.requests) == 3 and len(keys) == 1
    assert [backoff(n, timedelta(seconds=30)) for n in (1, 2, 3, 10)] == [
        timedelta(seconds=30),
        timedelta(seconds=60),
        timedelta(seconds=120),
        timedelta(hours=1),
    ]


def test_a_4xx_is_final_the_platforms_message_is_kept_and_nothing_is_retried(session, fake):
    conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
    message = service.queue_reply(session, conversation, "On it!", actor=None)
    session.commit()
    fake.fail_next(1, status=400, message="Bad Request: chat not found")
    report = Sender().send_due()
    assert len(report.failed) == 1
    item = item_for(session, fresh(session, Message, message.id))
    assert item.state == "failed" and item.attempts == 1 and item.last_status == 400
    assert "chat not found" in item.last_error
    assert session.get(Message, message.id).delivery_status == "failed"
    failure = session.scalars(select(ConversationEvent).where(ConversationEvent.kind == "reply_failed")).one()
    assert "chat not found" in failure.data["error"]
    assert Sender().send_due(now=utcnow() + timedelta(days=1)).to_dict()["sent"] == 0
    assert len(fake.requests) == 1


def test_giving_up_after_the_last_attempt(session, fake):
    conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
    message = service.queue_reply(session, conversation, "On it!", actor=None)
    session.commit()
    sender = Sender(max_attempts=2, base_delay=timedelta(seconds=1))
    fake.fail_next(5, status=502)
    t0 = utcnow()
    sender.send_due(now=t0)
    sender.send_due(now=t0 + timedelta(seconds=2))
    item = item_for(session, fresh(session, Message, message.id))
    assert item.state == "failed" and "gave up after 2 attempts" in item.last_error


def test_a_split_thread_is_sent_in_order_each_post_answering_the_one_before(session, fake):
    conversation = f.conversation(session, platform="x", api_base_url=fake.base_url)
    service.queue_reply(session, conversation, " ".join(["sorry"] * 100), actor=None, split=True)
    session.commit()
    sender = Sender()
    for _ in range(4):
        sender.send_due()
    items = session.scalars(select(OutboxItem).order_by(OutboxItem.id)).all()
    assert {i.state for i in items} == {"sent"}
    answered = [r["json"]["reply"]["in_reply_to_tweet_id"] for r in fake.requests]
    assert answered == [conversation.thread_key] + [i.external_id for i in items[:-1]]


def test_automatic_replies_wait_during_a_crisis(session, fake):
    from socialdesk.listening.models import Crisis

    conversation = f.conversation(session, platform="telegram", public=False, api_base_url=fake.base_url)
    message = service.queue_reply(session, conversation, "Auto: we got it", actor=None, automatic=True)
    crisis = Crisis(name="outage", query="outage", brand_id=conversation.brand_id, pause_all_automation=True)
    session.add(crisis)
    session.commit()
    assert Sender().send_due().paused == [item_for(session, message).id]
    assert fake.requests == []
    crisis.status = "closed"
    session.commit()
    assert len(Sender().send_due(now=utcnow() + timedelta(minutes=6)).sent) == 1


# --- handoff -------------------------------------------------------------------------------------


def test_handoff_posts_a_localised_public_note_and_a_dm_in_the_same_conversation(session, fake):
    conversation = f.conversation(
        session, platform="x", api_base_url=fake.base_url, language="de", author_id="4242"
    )
    public, private = service.handoff(session, conversation, actor=None)
    session.commit()
    assert public.is_public and "Direktnachricht" in public.text
    assert not private.is_public and private.conversation_id == public.conversation_id == conversation.id
    assert fresh(session, Conversation, conversation.id).visibility == "mixed"
    Sender().send_due()
    paths = sorted(r["path"] for r in fake.requests)
    assert paths == ["/2/dm_conversations/with/4242/messages", "/2/tweets"]
