"""The webhook batch writer: group commit, durable before the answer, one bad delivery isolated."""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer, Identity
from socialdesk.db.engine import get_sessionmaker
from socialdesk.ingest import webhooks
from socialdesk.ingest.writer import BatchWriter, get_writer
from socialdesk.platforms.base import AccountCredentials
from socialdesk.platforms.registry import sign
from socialdesk.queue import set_queue
from socialdesk.queue.base import InProcessQueue
from tests import factories

WHATSAPP = Path(__file__).resolve().parents[1] / "fixtures" / "platforms" / "whatsapp" / "messages_text.json"


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


@pytest.fixture
def account(session):
    account = factories.account(session, "whatsapp", slug="acme-wa", external_id="106540352242922")
    session.commit()
    return account


@pytest.fixture
def ref(account) -> webhooks.AccountRef:
    return webhooks.AccountRef(
        account.id, account.brand_id, account.platform, account.slug, webhooks.credentials(account)
    )


@pytest.fixture
def writer():
    writer = BatchWriter()
    yield writer
    writer.close()


@pytest.fixture
def committed_at_enqueue(settings):
    """A real in-process queue whose handler checks, in its own session, that every message
    it is handed is already committed."""
    seen: list[int] = []
    missing: list[int] = []

    def handler(ids: list[int]) -> None:
        with get_sessionmaker()() as other:
            found = set(other.scalars(select(Message.id).where(Message.id.in_(ids))))
        seen.extend(ids)
        missing.extend(i for i in ids if i not in found)

    queue = InProcessQueue(handler=handler)
    set_queue(queue)
    yield seen, missing, queue
    set_queue(None)


def delivery(ref: webhooks.AccountRef, external_id: str, author: str = "u1", **kw) -> webhooks.Delivery:
    item = factories.inbound(external_id, author_id=author, thread_key=author, platform="whatsapp", **kw)
    return webhooks.Delivery(ref, messages=[item])


def count(model) -> int:
    with get_sessionmaker()() as other:
        return other.scalar(select(func.count()).select_from(model))


def gathering(writer: BatchWriter, seconds: float) -> BatchWriter:
    """Make the writer wait ``seconds`` before its next batch, so what is submitted meanwhile
    goes into that one batch (as under load)."""
    writer.interval = seconds
    writer._last_start = time.monotonic()
    return writer


def test_concurrent_deliveries_are_committed_in_few_batches_and_each_gets_its_own_outcome(
    ref, writer, committed_at_enqueue
):
    seen, missing, queue = committed_at_enqueue

    async def post_all() -> list[webhooks.WebhookOutcome]:
        return await asyncio.gather(*(writer.store(delivery(ref, f"m{n}", f"c{n % 7}")) for n in range(60)))

    outcomes = asyncio.run(post_all())
    assert [o.report.messages for o in outcomes] == [1] * 60
    assert sum(o.report.customers for o in outcomes) == 7
    assert sum(o.report.conversations for o in outcomes) == 7
    assert writer.written == 60 and writer.batches < 60
    assert (count(Message), count(Customer), count(Conversation)) == (60, 7, 7)
    assert queue.drain(10)
    assert sorted(seen) == sorted(i for o in outcomes for i in o.report.message_ids) and not missing


def test_the_answer_comes_only_after_the_commit_and_the_enqueue(ref, writer, settings):
    futures: list = []
    at_enqueue: list[tuple[bool, int]] = []

    class Watching(InProcessQueue):
        def enqueue(self, message_ids):
            ids = list(message_ids)
            with get_sessionmaker()() as other:  # another connection sees only what is committed
                committed = other.scalar(select(func.count()).select_from(Message).where(Message.id.in_(ids)))
            at_enqueue.append((futures[0].done(), committed))
            super().enqueue(ids)

    set_queue(Watching(handler=lambda ids: None))
    gathering(writer, 0.2)  # the batch starts after the future is in the list
    try:
        futures.append(writer.submit(delivery(ref, "durable-1")))
        outcome = futures[0].result(timeout=30)
    finally:
        set_queue(None)
    # At enqueue time the message was committed and its caller not yet answered.
    assert at_enqueue == [(False, 1)]
    assert outcome.report.messages == 1


def test_the_same_message_twice_in_one_batch_stores_one(ref, writer, committed_at_enqueue):
    gathering(writer, 0.3)
    first = writer.submit(delivery(ref, "twice"))
    second = writer.submit(delivery(ref, "twice"))
    a, b = first.result(timeout=30), second.result(timeout=30)
    assert writer.batches == 1
    assert (a.report.messages, a.report.duplicates, b.report.messages, b.report.duplicates) == (1, 0, 0, 1)
    assert count(Message) == 1


def test_the_same_message_in_a_later_batch_is_a_duplicate(ref, writer, committed_at_enqueue):
    writer.submit(delivery(ref, "again")).result(timeout=30)
    later = writer.submit(delivery(ref, "again")).result(timeout=30)
    assert writer.batches == 2
    assert (later.report.messages, later.report.duplicates) == (0, 1)
    assert count(Message) == 1


def test_a_delivery_the_database_refuses_fails_alone(ref, writer, committed_at_enqueue):
    gathering(writer, 0.3)
    good = [writer.submit(delivery(ref, f"good{n}", f"g{n}")) for n in range(4)]
    # A follower count no integer column holds: the batch's INSERT fails as a whole.
    bad = writer.submit(delivery(ref, "bad", "b1", followers=10**20))
    more = [writer.submit(delivery(ref, f"more{n}", f"g{n}")) for n in range(3)]
    with pytest.raises(Exception):  # noqa: B017 - SQLite and PostgreSQL raise different errors
        bad.result(timeout=30)
    assert [f.result(timeout=30).report.messages for f in good + more] == [1] * 7
    with get_sessionmaker()() as other:
        stored = set(other.scalars(select(Message.external_id)))
    assert stored == {f"good{n}" for n in range(4)} | {f"more{n}" for n in range(3)}
    # The writer carries on with the next batch.
    assert writer.submit(delivery(ref, "after")).result(timeout=30).report.messages == 1


def test_two_writers_storing_the_same_new_message_store_it_once(ref, committed_at_enqueue):
    # Two web processes, each with its writer, get the same delivery at once.
    writers = [BatchWriter(), BatchWriter()]
    try:
        barrier = threading.Barrier(2)
        futures = []

        def submit(writer: BatchWriter) -> None:
            barrier.wait()
            futures.append(writer.submit(delivery(ref, "race", "racer")))

        threads = [threading.Thread(target=submit, args=(w,)) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        outcomes = [f.result(timeout=30) for f in futures]
    finally:
        for w in writers:
            w.close()
    assert sorted((o.report.messages, o.report.duplicates) for o in outcomes) == [(0, 1), (1, 0)]
    assert (count(Message), count(Customer), count(Identity), count(Conversation)) == (1, 1, 1, 1)


def test_a_known_customer_s_new_handle_and_follower_count_are_kept(ref, writer, committed_at_enqueue):
    writer.submit(delivery(ref, "p1", "fan", followers=10)).result(timeout=30)
    item = factories.inbound("p2", author_id="fan", thread_key="fan", platform="whatsapp", followers=500)
    item.author_handle = "new_handle"
    writer.submit(webhooks.Delivery(ref, messages=[item])).result(timeout=30)
    with get_sessionmaker()() as other:
        identity = other.scalars(select(Identity)).one()
        assert (identity.handle, identity.followers, identity.customer.followers) == ("new_handle", 500, 500)


# --- over HTTP -------------------------------------------------------------------------------


def signed(account, message_id: str, wa_id: str, secret: str | None = None) -> tuple[bytes, dict[str, str]]:
    payload = copy.deepcopy(json.loads(WHATSAPP.read_text()))
    value = payload["entry"][0]["changes"][0]["value"]
    value["contacts"][0]["wa_id"] = wa_id
    value["messages"][0].update({"id": message_id, "from": wa_id})
    body = json.dumps(payload).encode()
    creds = AccountCredentials(external_id=account.external_id, app_secret=secret or account.app_secret)
    return body, {"content-type": "application/json", **sign("whatsapp", body, creds)}


def test_concurrent_webhooks_over_http_are_grouped_and_all_stored(app, account, committed_at_enqueue):
    before = get_writer().batches

    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            requests = [signed(account, f"wamid.c{n}", str(4915000000000 + n % 5)) for n in range(40)]
            # The same delivery twice among them: a platform retry arriving during the first.
            requests.append(requests[0])
            return await asyncio.gather(
                *(client.post("/webhooks/whatsapp/acme-wa", content=b, headers=h) for b, h in requests)
            )

    responses = asyncio.run(post_all())
    assert {r.status_code for r in responses} == {200}
    bodies = [r.json() for r in responses]
    assert sum(b["messages"] for b in bodies) == 40 and sum(b["duplicates"] for b in bodies) == 1
    assert count(Message) == 40 and count(Conversation) == 5
    assert get_writer().batches - before < 41


def test_a_bad_signature_in_a_busy_moment_is_refused_and_stores_nothing(app, account, committed_at_enqueue):
    async def post_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            good = [signed(account, f"wamid.g{n}", "4915000000001") for n in range(10)]
            forged_body, headers = signed(account, "wamid.forged", "4915000000002")
            forged = (
                forged_body,
                {
                    k: "sha256=" + "0" * 64 if k.lower() == "x-hub-signature-256" else v
                    for k, v in headers.items()
                },
            )
            return await asyncio.gather(
                *(client.post("/webhooks/whatsapp/acme-wa", content=b, headers=h) for b, h in [*good, forged])
            )

    responses = asyncio.run(post_all())
    assert [r.status_code for r in responses] == [200] * 10 + [401]
    assert "signature" in responses[-1].json()["detail"]
    with get_sessionmaker()() as other:
        assert "wamid.forged" not in set(other.scalars(select(Message.external_id)))
    assert count(Message) == 10


def test_a_changed_app_secret_applies_once_the_cached_account_expires(client, session, account, monkeypatch):
    monkeypatch.setattr(webhooks, "ACCOUNT_TTL_S", 0.0)
    body, headers = signed(account, "wamid.s1", "4915000000003")
    assert client.post("/webhooks/whatsapp/acme-wa", content=body, headers=headers).status_code == 200
    account.app_secret = "rotated-secret"
    session.commit()
    body, headers = signed(account, "wamid.s2", "4915000000003")
    assert client.post("/webhooks/whatsapp/acme-wa", content=body, headers=headers).status_code == 200
    old_body, old_headers = signed(account, "wamid.s3", "4915000000003", secret="app-secret")
    assert client.post("/webhooks/whatsapp/acme-wa", content=old_body, headers=old_headers).status_code == 401


def test_the_webhook_endpoint_stays_documented(client):
    paths = client.get("/openapi.json").json()["paths"]
    assert {"get", "post"} <= set(paths["/webhooks/{platform}/{account}"])


TRICKY = [
    "tab\there, newline\nthere, carriage\rreturn",
    "back\\slash \\N and \\. and a lone \\",
    'quotes " and \' and {"json": [1, 2]}',
    "emoji 😀🙏🏽, RTL مرحبا, CJK 你好, combining é",
    "",
]


def test_texts_and_later_changes_to_conversations_are_stored_exactly(ref, writer, committed_at_enqueue):
    # PostgreSQL takes the rows by COPY and the conversation changes as one UPDATE over arrays;
    # SQLite by executemany. Either way what comes back is what went in.
    from datetime import UTC, datetime, timedelta

    start = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
    gathering(writer, 0.2)
    first = [writer.submit(delivery(ref, f"t{n}", f"a{n}", text=t, sent_at=start))
             for n, t in enumerate(TRICKY)]
    assert all(f.result(timeout=30).report.conversations == 1 for f in first)
    later = start + timedelta(minutes=5)
    gathering(writer, 0.2)
    second = [writer.submit(delivery(ref, f"t{n}-again", f"a{n}", text=f"again {n}", sent_at=later))
              for n in range(len(TRICKY))]
    assert all(f.result(timeout=30).report.conversations == 0 for f in second)
    with get_sessionmaker()() as other:
        stored = dict(other.execute(select(Message.external_id, Message.text)).all())
        conversations = other.execute(
            select(Conversation.thread_key, Conversation.message_count, Conversation.last_message_at)
        ).all()
    assert {f"t{n}": t for n, t in enumerate(TRICKY)}.items() <= stored.items()
    assert sorted((k, c) for k, c, _ in conversations) == [(f"a{n}", 2) for n in range(len(TRICKY))]
    assert {at.replace(tzinfo=UTC) if at.tzinfo is None else at for _, _, at in conversations} == {later}


def test_one_batch_threads_replies_aliases_and_several_accounts_as_the_one_by_one_rules_do(
    session, ref, writer, committed_at_enqueue
):
    # On PostgreSQL a batch's locks and lookups go in one pipeline; what it finds must be what
    # separate lookups find: a reply's parent stored earlier, a thread alias, a second account.
    from socialdesk.conversations.aliases import set_alias

    x = factories.account(session, "x", slug="acme-x")
    session.commit()
    x_ref = webhooks.AccountRef(x.id, x.brand_id, x.platform, x.slug, webhooks.credentials(x))

    def on_x(external_id: str, **kw) -> webhooks.Delivery:
        return webhooks.Delivery(x_ref, messages=[factories.inbound(external_id, platform="x", **kw)])

    first = writer.submit(on_x("post-1", author_id="ann", thread_key="post-1")).result(timeout=30)
    public = writer.submit(delivery(ref, "wa-1", "bob")).result(timeout=30)
    assert first.report.conversations == public.report.conversations == 1
    with get_sessionmaker()() as other:
        dm_target = other.scalar(select(Conversation).where(Conversation.thread_key == "bob"))
        set_alias(other, ref.id, "bob-dm", dm_target)
        other.commit()
        target_id = dm_target.id

    gathering(writer, 0.3)
    batch = [
        writer.submit(on_x("reply-1", author_id="cy", thread_key="elsewhere", reply_to="post-1")),
        writer.submit(delivery(ref, "wa-2", "bob-dm")),  # joins bob's conversation via the alias
        writer.submit(delivery(ref, "wa-3", "dee")),  # a new customer on the first account
        writer.submit(on_x("post-1", author_id="ann", thread_key="post-1")),  # a redelivery
    ]
    outcomes = [f.result(timeout=30) for f in batch]
    assert writer.batches == 3
    assert [(o.report.messages, o.report.conversations, o.report.duplicates) for o in outcomes] == [
        (1, 0, 0), (1, 0, 0), (1, 1, 0), (0, 0, 1)
    ]
    with get_sessionmaker()() as other:
        where = dict(other.execute(select(Message.external_id, Message.conversation_id)).all())
    assert where["reply-1"] == where["post-1"]
    assert where["wa-2"] == where["wa-1"] == target_id
    assert where["wa-3"] not in (where["wa-1"], where["post-1"])
