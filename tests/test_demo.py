"""The demo's traffic: every delivery it builds is a valid, signed, stored platform payload."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import func, select

from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Message
from socialdesk.customers import crm
from socialdesk.customers.fake_crm import running_fake_crm
from socialdesk.customers.models import Customer, Identity
from socialdesk.demo import (
    DEMO_LOGINS,
    Traffic,
    account_slug,
    connect_demo_crm,
    credentials,
    demo_order_book,
    fixture_deliveries,
    seed,
)
from socialdesk.ingest.models import DeadLetter
from socialdesk.platforms.registry import sign
from socialdesk.routing.models import Agent

TWCS = Path(__file__).resolve().parent / "fixtures" / "twcs" / "sample.csv"


def post(client, delivery):
    body = json.dumps(delivery.payload).encode()
    headers = {
        "content-type": "application/json",
        **sign(delivery.platform, body, credentials(delivery.platform)),
    }
    return client.post(
        f"/webhooks/{delivery.platform}/{account_slug(delivery.platform)}", content=body, headers=headers
    )


def test_seeding_twice_creates_one_brand_its_accounts_and_three_logins(session):
    seed(session)
    seed(session)
    session.commit()
    assert session.scalar(select(func.count()).select_from(SocialAccount)) == 7
    assert {a.email for a in session.scalars(select(Agent))} == {email for email, _, _ in DEMO_LOGINS}


def test_each_platform_builder_makes_a_payload_that_is_stored_as_a_customer_message(client, session):
    seed(session)
    session.commit()
    traffic = Traffic()
    for platform in ("x", "whatsapp", "telegram", "instagram", "messenger", "facebook"):
        delivery = traffic.message(platform, f"Hello from {platform}, my order is late", "424242", "Ana Lima")
        response = post(client, delivery)
        assert response.status_code == 200, (platform, response.text)
        assert response.json()["messages"] == 1, (platform, response.json())
    texts = {m.platform: m for m in session.scalars(select(Message))}
    assert set(texts) == {"x", "whatsapp", "telegram", "instagram", "messenger", "facebook"}
    assert all(m.direction == "inbound" and m.kind == "message" for m in texts.values())


def test_the_replayed_stream_goes_in_without_dead_letters_and_has_a_spike(client, session):
    seed(session)
    session.commit()
    deliveries = list(fixture_deliveries()) + list(Traffic().stream(TWCS))
    assert any(d.label.startswith("spike") for d in deliveries)
    for delivery in deliveries:
        assert post(client, delivery).status_code == 200, delivery.label
    outbound = session.scalar(
        select(func.count()).select_from(Message).where(Message.direction == "outbound")
    )
    assert outbound > 0, "the TWCS brand answers replay as the brand's own tweets"
    assert session.scalar(select(func.count()).select_from(DeadLetter)) == 0


def test_conversations_opened_by_years_old_documented_payloads_are_resolved(client, session):
    from socialdesk.conversations.models import Conversation
    from socialdesk.demo import resolve_old_conversations

    seed(session)
    session.commit()
    for delivery in fixture_deliveries():
        assert post(client, delivery).status_code == 200
    fresh = Traffic().message("whatsapp", "Is my order on its way?", "4915111", "Eva Braun")
    assert post(client, fresh).status_code == 200
    assert resolve_old_conversations(session) > 0
    session.commit()
    open_ones = session.scalars(select(Conversation).where(Conversation.status.in_(("new", "open")))).all()
    assert "Is my order on its way?" in [c.subject for c in open_ones]
    # What stays open is recent (a payload without a time is stamped when it arrives).
    assert all(datetime.now(UTC) - c.last_message_at < timedelta(days=1) for c in open_ones)


def test_the_demo_crm_answers_each_customer_with_the_same_valid_orders():
    books = [demo_order_book(f"x:{i}") for i in range(40)]
    assert books[:5] == [demo_order_book(f"x:{i}") for i in range(5)]  # stable per identity
    assert any(books) and not all(books)  # some customers have orders, some none
    for book in books:
        assert len(crm.parse_orders({"orders": book})) == len(book) <= 3  # the documented contract


def test_the_demo_brand_looks_orders_up_in_the_local_fake_crm(session):
    brand = seed(session)
    customer = Customer(name="Dana Miller")
    key = next(f"x:{i}" for i in range(100) if demo_order_book(f"x:{i}"))
    customer.identities = [Identity(platform="x", external_user_id=key.split(":")[1], handle="dana_m")]
    session.add(customer)
    session.commit()
    crm.cache.clear()
    with running_fake_crm(order_book=demo_order_book) as fake:
        connect_demo_crm(session, brand, fake.endpoint, fake.header, fake.secret)
        session.commit()
        result = crm.lookup_orders(session, brand.id, customer)
    assert result.state == "ok", result.message
    assert sorted(o.id for o in result.orders) == sorted(o["id"] for o in demo_order_book(key))
