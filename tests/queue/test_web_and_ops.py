"""Over HTTP and the CLI: webhooks when Redis is down, readiness, metrics, dead letters, live relay."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from socialdesk import pipeline
from socialdesk.auth.service import create_token
from socialdesk.cli import app as cli_app
from socialdesk.conversations.models import Message
from socialdesk.live import LiveEvent
from socialdesk.ops.logging import JsonFormatter
from socialdesk.queue.live_redis import RedisBroker
from tests.queue.factories import telegram_account, telegram_update
from tests.queue.test_redis_streams import processed, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.redis]


def test_a_webhook_answers_503_while_redis_is_down_and_the_message_is_still_processed_later(
    session, queue, client, redis_server
):
    telegram_account(session, "care")
    body, headers = telegram_update("my order never arrived")
    redis_server.stop()
    try:
        down = client.post("/webhooks/telegram/care", content=body, headers=headers)
        assert down.status_code == 503
        assert "queue is unavailable" in down.json()["detail"]
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["redis"]["ok"] is False
    finally:
        redis_server.start()
    # Durable before the 503: stored once; the platform's retry is a duplicate.
    assert session.scalar(select(func.count()).select_from(Message)) == 1
    again = client.post("/webhooks/telegram/care", content=body, headers=headers)
    assert again.status_code == 200 and again.json()["duplicates"] == 1
    assert session.scalar(select(func.count()).select_from(Message)) == 1
    # The sweeper hands the stored message to the workers.
    [message_id] = session.scalars(select(Message.id)).all()
    queue.run_worker_thread("w1")
    assert wait_for(lambda: processed(session, [message_id]) == 1, 20)
    assert client.get("/readyz").json() == {
        "status": "ready",
        "checks": {"database": {"ok": True}, "redis": {"ok": True}},
    }


def test_metrics_count_ingested_and_processed_and_show_the_queue(session, queue, client):
    telegram_account(session, "care")
    for i in range(3):
        body, headers = telegram_update(f"where is parcel {i}?", chat_id=500 + i)
        assert client.post("/webhooks/telegram/care", content=body, headers=headers).status_code == 200
    before = client.get("/metrics").text
    assert "socialdesk_queue_lag 3.0" in before
    queue.run_worker_thread("w1")
    assert queue.drain(timeout=20)
    text = client.get("/metrics").text
    assert "socialdesk_queue_lag 0.0" in text and "socialdesk_queue_pending 0.0" in text

    def value(name: str, page: str) -> float:
        return float(next(line.split()[-1] for line in page.splitlines() if line.startswith(name + " ")))

    assert (
        value("socialdesk_messages_ingested_total", text)
        - value("socialdesk_messages_ingested_total", before)
        == 0
    )
    assert (
        value("socialdesk_messages_processed_total", text)
        - value("socialdesk_messages_processed_total", before)
        == 3
    )
    assert value("socialdesk_end_to_end_seconds_count", text) >= 3


def test_dead_letters_are_visible_to_admins_and_replayable_by_api(session, queue, client, monkeypatch):
    def crash(session, message):
        raise ValueError("boom")

    monkeypatch.setattr(pipeline, "STEPS", [crash])
    telegram_account(session, "care")
    body, headers = telegram_update("this one crashes")
    assert client.post("/webhooks/telegram/care", content=body, headers=headers).status_code == 200
    queue.run_worker_thread("w1")
    assert wait_for(lambda: queue.stats().dead_letters == 1, 20)

    admin = {"Authorization": f"Bearer {create_token(session, 'ops', role='admin')}"}
    agent = {"Authorization": f"Bearer {create_token(session, 'desk', role='agent')}"}
    session.commit()
    assert client.get("/api/v1/queue/dead-letters", headers=agent).status_code == 403
    [letter] = client.get("/api/v1/queue/dead-letters", headers=admin).json()
    assert letter["tries"] == 3 and "ValueError: boom" in letter["error"]
    assert client.get("/api/v1/queue", headers=admin).json()["dead_letters"] == 1

    missing = client.post("/api/v1/queue/dead-letters/replay", json={"entry_ids": ["1-1"]}, headers=admin)
    assert missing.status_code == 404 and "no dead letter" in missing.json()["detail"]
    monkeypatch.setattr(pipeline, "STEPS", [])
    replayed = client.post(
        "/api/v1/queue/dead-letters/replay", json={"entry_ids": [letter["entry_id"]]}, headers=admin
    )
    assert replayed.status_code == 200 and replayed.json() == {"replayed": [letter["message_id"]]}
    assert wait_for(lambda: processed(session, [letter["message_id"]]) == 1, 20)


def test_the_cli_shows_stats_and_dead_letters_and_refuses_a_bad_replay(queue, monkeypatch):
    monkeypatch.setenv("SOCIALDESK_QUEUE_URL", queue.url)
    monkeypatch.setenv("SOCIALDESK_QUEUE_STREAM", queue.stream)
    monkeypatch.setenv("SOCIALDESK_QUEUE_GROUP", queue.group)
    from socialdesk.config import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    stats = runner.invoke(cli_app, ["queue", "stats", "--json"])
    assert stats.exit_code == 0, stats.output
    assert json.loads(stats.output)["lag"] == 0
    assert "no dead letters" in runner.invoke(cli_app, ["queue", "dead-letters"]).output
    bad = runner.invoke(cli_app, ["queue", "replay", "9-9"])
    assert bad.exit_code == 1 and "no dead letter" in bad.output
    neither = runner.invoke(cli_app, ["queue", "replay"])
    assert neither.exit_code == 2


def test_the_worker_command_refuses_the_in_process_queue(settings):
    result = CliRunner().invoke(cli_app, ["worker"])
    assert result.exit_code == 2 and "SOCIALDESK_QUEUE_URL" in result.output


def test_an_event_published_by_a_worker_reaches_subscribers_of_every_web_process(redis_server):
    web_a, web_b, worker = (RedisBroker(redis_server.url, channel="test:live") for _ in range(3))

    async def listen(broker: RedisBroker, received: list[LiveEvent]) -> None:
        async for event in broker.subscribe():
            received.append(event)
            return

    async def scenario() -> tuple[list[LiveEvent], list[LiveEvent]]:
        got_a: list[LiveEvent] = []
        got_b: list[LiveEvent] = []
        tasks = [asyncio.create_task(listen(web_a, got_a)), asyncio.create_task(listen(web_b, got_b))]
        while not (web_a.wait_listening(0) and web_b.wait_listening(0)):
            await asyncio.sleep(0.02)
        worker.publish(LiveEvent("message.created", {"message_id": 7}))
        await asyncio.wait_for(asyncio.gather(*tasks), 5)
        return got_a, got_b

    try:
        got_a, got_b = asyncio.run(scenario())
    finally:
        for broker in (web_a, web_b, worker):
            broker.stop()
    assert [(e.kind, e.data) for e in got_a] == [("message.created", {"message_id": 7})]
    assert [(e.kind, e.data) for e in got_b] == [("message.created", {"message_id": 7})]


def test_json_logs_are_one_object_per_line_with_extra_fields():
    record = logging.LogRecord("socialdesk.queue", logging.WARNING, __file__, 1, "lag %d", (42,), None)
    record.consumer = "host-1"
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "warning" and line["msg"] == "lag 42" and line["consumer"] == "host-1"
    assert line["logger"] == "socialdesk.queue" and line["ts"].endswith("+00:00")
