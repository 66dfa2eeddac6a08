"""Public → private handoff keeps both parts in one conversation: after the handoff, the
customer's DM (a real webhook payload of each platform, through the real webhook endpoint)
lands in the conversation that asked for it, on SQLite and PostgreSQL.

Payloads are the published fixtures in tests/fixtures/platforms/ with their ids and times
changed so the DM comes from the person who wrote publicly, to the connected account.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.models import Conversation, ConversationEvent, Message, ThreadAlias
from socialdesk.db.base import utcnow
from socialdesk.outbox import service
from socialdesk.outbox.sender import Sender
from socialdesk.platforms.base import AccountCredentials
from socialdesk.platforms.fake_server import RunningFakeServer, running_fake_server
from socialdesk.platforms.registry import get_connector, sign
from tests import factories
from tests.outbox import factories as f

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "platforms"
X_BRAND, X_CUSTOMER = "4337869213", "3001969357"  # the DM fixture's recipient and sender
FB_PAGE, FB_PSID = "1234567890321", "<PSID>"
IG_ACCOUNT, IG_USER = "17841400000000001", "232323232"


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


def fixture(path: str) -> dict[str, Any]:
    return json.loads((FIXTURES / path).read_text())


def creds(account: SocialAccount) -> AccountCredentials:
    return AccountCredentials(
        external_id=account.external_id, handle=account.handle, app_secret=account.app_secret
    )


def post(client, account: SocialAccount, payload: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(payload).encode()
    response = client.post(
        f"/webhooks/{account.platform}/{account.slug}",
        content=body,
        headers={"content-type": "application/json", **sign(account.platform, body, creds(account))},
    )
    assert response.status_code == 200, response.text
    return response.json()


def ms(minutes_ago: float) -> int:
    return int((utcnow() - timedelta(minutes=minutes_ago)).timestamp() * 1000)


# --- the platforms' payloads, pointed at one customer and one account --------------------------


def x_post(text: str = "@AcmeCare my order never arrived") -> dict[str, Any]:
    payload = fixture("x/account_activity_tweet_create_events.json")
    payload["for_user_id"] = X_BRAND
    tweet = payload["tweet_create_events"][0]
    tweet["user"].update(id=int(X_CUSTOMER), id_str=X_CUSTOMER, screen_name="furiouscamper", name="Jordan")
    tweet.update(in_reply_to_user_id=int(X_BRAND), in_reply_to_user_id_str=X_BRAND, full_text=text)
    tweet["created_at"] = (utcnow() - timedelta(minutes=10)).strftime("%a %b %d %H:%M:%S +0000 %Y")
    return payload


def x_dm(event_id: str = "954491830116155396", text: str = "Order 12345") -> dict[str, Any]:
    payload = fixture("x/account_activity_direct_message_events.json")  # 3001969357 → 4337869213
    event = payload["direct_message_events"][0]
    event.update(id=event_id, created_timestamp=str(ms(1)))
    event["message_create"]["message_data"]["text"] = text
    return payload


def fb_comment() -> dict[str, Any]:
    payload = fixture("facebook/feed_comment_add.json")
    value = payload["entry"][0]["changes"][0]["value"]
    value["from"] = {"id": FB_PSID, "name": "Tester"}  # the fixture's author is the Page itself
    value["created_time"] = int(ms(10) / 1000)
    return payload


def messenger_dm(mid: str = "mid.1457764197618:41d102a3e1ae206a38") -> dict[str, Any]:
    event = fixture("messenger/messages_text_event.json")  # <PSID> → <PAGE_ID>
    event["recipient"]["id"] = FB_PAGE
    event["timestamp"] = ms(1)
    event["message"]["mid"] = mid
    return event


def ig_comment() -> dict[str, Any]:
    return fixture("instagram/comments_field_sample.json")  # from 232323232 on media 123123123


def ig_dm() -> dict[str, Any]:
    payload = fixture("instagram/messaging_text.json")
    entry = payload["entry"][0]
    entry["id"] = IG_ACCOUNT
    event = entry["messaging"][0]
    event["sender"]["id"], event["recipient"]["id"] = IG_USER, IG_ACCOUNT
    event["timestamp"] = ms(1)
    return payload


PLATFORMS = {
    # platform: (account id, public payload, DM payload, DM thread key, DM request path)
    "x": (
        X_BRAND,
        x_post,
        x_dm,
        f"{X_CUSTOMER}-{X_BRAND}",
        f"/2/dm_conversations/with/{X_CUSTOMER}/messages",
    ),
    "facebook": (FB_PAGE, fb_comment, messenger_dm, FB_PSID, None),
    "instagram": (IG_ACCOUNT, ig_comment, ig_dm, IG_USER, None),
}


def connect(session, platform: str, fake: RunningFakeServer, **kw: Any) -> SocialAccount:
    account = factories.account(
        session,
        platform,
        external_id=PLATFORMS[platform][0],
        api_base_url=fake.base_url,
        access_token="tok",
        **kw,
    )
    session.commit()
    return account


def conversation_of(session, account: SocialAccount, external_id: str) -> Conversation:
    session.expire_all()
    message = session.scalars(
        select(Message).where(Message.account_id == account.id, Message.external_id == external_id)
    ).one()
    assert message.conversation is not None
    return message.conversation


def parsed_id(platform: str, payload: dict[str, Any], account: SocialAccount) -> str:
    (item,) = get_connector(platform).parse(copy.deepcopy(payload), creds(account)).messages
    return item.external_id


def conversation_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(Conversation))


# --- one conversation across the handoff --------------------------------------------------------


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_the_customers_dm_after_a_handoff_lands_in_the_same_conversation(session, client, fake, platform):
    _, public_payload, dm_payload, dm_key, dm_path = PLATFORMS[platform]
    account = connect(session, platform, fake)
    public = public_payload()
    post(client, account, public)
    conversation = conversation_of(session, account, parsed_id(platform, public, account))
    assert conversation.visibility == "public"

    _, private = service.handoff(session, conversation, actor=None)
    session.commit()
    assert private.thread_key == dm_key and not private.is_public
    aliases = session.scalars(select(ThreadAlias).where(ThreadAlias.conversation_id == conversation.id)).all()
    assert dm_key in {a.thread_key for a in aliases}

    report = Sender().send_due()
    assert len(report.sent) == 2, report
    if dm_path is not None:
        assert dm_path in [r["path"] for r in fake.requests]
    else:  # Meta Send API: the recipient is the customer's scoped id, the DM thread's key
        sends = [r for r in fake.requests if r["path"].endswith("/me/messages")]
        assert [r["json"]["recipient"]["id"] for r in sends] == [dm_key]

    before = conversation_count(session)
    dm = dm_payload()
    post(client, account, dm)
    reply = conversation_of(session, account, parsed_id(platform, dm, account))
    assert reply.id == conversation.id  # not a new private conversation
    assert conversation_count(session) == before
    assert reply.visibility == "mixed"
    inbound = session.scalars(
        select(Message).where(Message.conversation_id == conversation.id, Message.direction == "inbound")
    ).all()
    assert sorted(m.is_public for m in inbound) == [False, True]


def test_a_facebook_page_dm_through_its_messenger_account_also_lands_in_the_conversation(
    session, client, fake
):
    facebook = connect(session, "facebook", fake)
    messenger = factories.account(
        session, "messenger", brand_obj=facebook.brand, external_id=FB_PAGE, api_base_url=fake.base_url
    )
    session.commit()
    public = fb_comment()
    post(client, facebook, public)
    conversation = conversation_of(session, facebook, parsed_id("facebook", public, facebook))
    service.handoff(session, conversation, actor=None)
    session.commit()
    dm = messenger_dm()
    post(client, messenger, dm)
    assert conversation_of(session, messenger, dm["message"]["mid"]).id == conversation.id


def test_the_one_by_one_ingestor_follows_the_alias_too(session, fake):
    account = connect(session, "x", fake)
    x = get_connector("x")
    (tweet,) = x.parse(x_post(), creds(account)).messages
    conversation = f.store(session, account, tweet).conversation
    session.commit()
    service.handoff(session, conversation, actor=None)
    session.commit()
    (dm,) = x.parse(x_dm(), creds(account)).messages
    assert dm.thread_key == f"{X_CUSTOMER}-{X_BRAND}"
    assert f.store(session, account, dm).conversation_id == conversation.id


# --- an existing private conversation, and the threading rules ----------------------------------


def test_an_existing_private_conversation_is_linked_and_later_dms_join_the_handoff(session, client, fake):
    account = connect(session, "x", fake)
    earlier = x_dm("900000000000000001", "Hello?")
    post(client, account, earlier)
    private = conversation_of(session, account, "900000000000000001")
    assert private.visibility == "private" and private.thread_key == f"{X_CUSTOMER}-{X_BRAND}"

    public = x_post()
    post(client, account, public)
    conversation = conversation_of(session, account, parsed_id("x", public, account))
    assert conversation.id != private.id
    service.handoff(session, conversation, actor=None)
    session.commit()

    handoff = session.scalars(
        select(ConversationEvent).where(
            ConversationEvent.kind == "handoff", ConversationEvent.conversation_id == conversation.id
        )
    ).one()
    assert handoff.data["linked_conversation_id"] == private.id
    linked = session.scalars(
        select(ConversationEvent).where(
            ConversationEvent.kind == "handoff_linked", ConversationEvent.conversation_id == private.id
        )
    ).one()
    assert linked.data["from_conversation_id"] == conversation.id

    post(client, account, x_dm("900000000000000002", "Order 12345"))
    assert conversation_of(session, account, "900000000000000002").id == conversation.id
    session.expire_all()
    assert session.get(Conversation, private.id).message_count == 1  # linked, not merged


def test_an_alias_never_resurrects_a_closed_conversation(session, client, fake):
    account = connect(session, "x", fake)
    public = x_post()
    post(client, account, public)
    conversation = conversation_of(session, account, parsed_id("x", public, account))
    service.handoff(session, conversation, actor=None)
    conversation.status = "closed"
    session.commit()

    post(client, account, x_dm("900000000000000003", "Still there?"))
    fresh = conversation_of(session, account, "900000000000000003")
    assert fresh.id != conversation.id
    assert (fresh.thread_key, fresh.generation, fresh.visibility) == (f"{X_CUSTOMER}-{X_BRAND}", 1, "private")
    assert session.get(Conversation, conversation.id).status == "closed"
    # The DM thread now has its own conversation: it wins over the alias from then on.
    post(client, account, x_dm("900000000000000004", "Hello again"))
    assert conversation_of(session, account, "900000000000000004").id == fresh.id


def test_a_resolved_conversation_reopens_through_its_alias_inside_the_reopen_window(session, client, fake):
    account = connect(session, "x", fake)
    public = x_post()
    post(client, account, public)
    conversation = conversation_of(session, account, parsed_id("x", public, account))
    service.handoff(session, conversation, actor=None)
    conversation.status = "resolved"
    conversation.resolved_at = utcnow() - timedelta(minutes=30)
    session.commit()

    post(client, account, x_dm("900000000000000005", "One more thing"))
    reopened = conversation_of(session, account, "900000000000000005")
    assert reopened.id == conversation.id and reopened.status == "open"


def test_an_x_handoff_needs_the_accounts_user_id_to_match_the_dm_thread(session, fake):
    account = connect(session, "x", fake)
    conversation = f.conversation(session, account=account, author_id=X_CUSTOMER)
    account.external_id = ""
    with pytest.raises(service.ReplyError, match="no user id"):
        service.handoff(session, conversation, actor=None)
    assert session.scalars(select(ThreadAlias)).all() == []
