"""Engagement rate from the counts the platforms publish, read from their documented payloads.

Every payload here is a file from tests/fixtures/platforms (sources in its README).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from socialdesk.analytics import engagement
from socialdesk.analytics.kpis import Filters
from socialdesk.analytics.kpis import engagement as engagement_rate
from socialdesk.analytics.models import PostMetrics
from socialdesk.auth.service import create_token
from socialdesk.conversations.models import Message
from socialdesk.ingest.service import Ingestor, IngestReport
from socialdesk.ingest.webhooks import credentials
from socialdesk.pipeline import process_message
from socialdesk.platforms.registry import get_connector
from tests import factories

FIXTURES = Path(__file__).parents[1] / "fixtures" / "platforms"


def payload(name: str):
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def test_counts_read_from_each_documented_payload():
    (public,) = engagement.counts_from_payload("x", payload("x/post_metrics_public.json"))
    assert (public.external_id, public.impressions, public.likes, public.replies, public.shares) == (
        "1234567890",
        5432,
        234,
        12,
        55,  # 50 reposts + 5 quotes
    )
    # Owner-only metrics: impressions; the organic counts leave out promoted views, so not used.
    (private,) = engagement.counts_from_payload("x", payload("x/post_metrics_private.json"))
    assert private.given() == {"impressions": 5432}
    # The data dictionary's older sample: counts, no impressions.
    (older,) = engagement.counts_from_payload("x", payload("x/tweet_lookup_reply_with_includes.json"))
    assert older.given() == {"likes": 38, "replies": 3, "shares": 8}
    (video,) = engagement.counts_from_payload("youtube", payload("youtube/videos_list_statistics.json"))
    assert video.given() == {"impressions": 3057, "likes": 25, "replies": 12}
    # Payloads with no post counts are refused, not read as zeros.
    for platform, name in (
        ("youtube", "youtube/comment_threads_list.json"),
        ("x", "x/account_activity_direct_message_events.json"),
        ("instagram", "instagram/comments_field_sample.json"),
    ):
        with pytest.raises(engagement.PayloadError):
            engagement.counts_from_payload(platform, payload(name))


def _post(session, account, external_id: str, when: datetime) -> Message:
    message = Message(
        account_id=account.id,
        platform=account.platform,
        direction="outbound",
        kind="post",
        external_id=external_id,
        thread_key=external_id,
        text="Our new collection is here",
        sent_at=when,
        received_at=when,
        delivery_status="sent",
    )
    session.add(message)
    session.flush()
    return message


def test_api_records_counts_from_platform_responses_and_the_rate_follows(client, session):
    brand = factories.brand(session, "acme")
    x = factories.account(session, "x", brand_obj=brand)
    yt = factories.account(session, "youtube", brand_obj=brand)
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    a = _post(session, x, "1234567890", when)
    b = _post(session, x, "1212092628029698048", when)
    v = _post(session, yt, "7lCDEYXw3mM", when)
    token = create_token(session, "metrics", role="supervisor")
    agent = create_token(session, "agent", role="agent")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    def post(platform: str, name: str):
        return client.post(f"/api/v1/analytics/posts/metrics/{platform}", json=payload(name), headers=headers)

    first = post("x", "x/post_metrics_public.json")
    assert first.status_code == 200, first.text
    assert first.json()["unknown"] == [] and first.json()["recorded"][0]["message_id"] == a.id
    assert post("x", "x/post_metrics_private.json").status_code == 200  # impressions again: no change
    assert post("x", "x/tweet_lookup_reply_with_includes.json").status_code == 200
    assert post("youtube", "youtube/videos_list_statistics.json").status_code == 200
    session.expire_all()
    assert (session.get(PostMetrics, a.id).likes, session.get(PostMetrics, a.id).shares) == (234, 55)
    assert session.get(PostMetrics, b.id).impressions == 0
    assert session.get(PostMetrics, v.id).replies == 12

    overall = engagement_rate(session, Filters())["overall"]
    assert (overall["posts"], overall["posts_with_impressions"]) == (3, 2)
    # (234 + 12 + 55) + (25 + 12) over 5432 + 3057 impressions; post b has no impressions.
    assert overall["engagement_rate"] == round((301 + 37) / (5432 + 3057), 4)
    assert overall["engagements"] == 301 + 37 + (38 + 3 + 8)
    by_platform = engagement_rate(session, Filters(), "platform")["groups"]
    assert {g["key"]: g["engagement_rate"] for g in by_platform} == {
        "x": round(301 / 5432, 4),
        "youtube": round(37 / 3057, 4),
    }

    # Refusals change nothing: a payload without counts, an agent, a post that is not ours.
    assert post("youtube", "youtube/comment_threads_list.json").status_code == 422
    refused = client.post(
        "/api/v1/analytics/posts/metrics/x",
        json=payload("x/post_metrics_public.json"),
        headers={"Authorization": f"Bearer {agent}"},
    )
    assert refused.status_code == 403
    session.delete(session.get(PostMetrics, a.id))
    session.delete(a)
    session.commit()
    unknown = post("x", "x/post_metrics_public.json").json()
    assert unknown == {"recorded": [], "unknown": ["1234567890"]}


def test_a_brand_post_arriving_by_webhook_records_its_counts(session):
    """X's Account Activity tweet_create_events example is the brand's own Tweet (for_user_id is
    its author): stored as the brand's post, its v1.1 counts are recorded by the pipeline."""
    account = factories.account(session, "x", external_id="2244994945", handle="TwitterDev")
    session.commit()
    parsed = get_connector("x").parse(
        payload("x/account_activity_tweet_create_events.json"), credentials(account)
    )
    report = IngestReport()
    ingestor = Ingestor(session)
    ingestor.prime(account, parsed.messages)
    for item in parsed.messages:
        ingestor.store(account, item, report)
    ingestor.finish(report)
    session.commit()
    (message_id,) = report.message_ids
    process_message(session, message_id)
    session.commit()
    message = session.get(Message, message_id)
    assert message.direction == "outbound"
    row = session.get(PostMetrics, message_id)
    assert (row.likes, row.shares, row.impressions) == (70, 11, 0)
    assert engagement_rate(session, Filters())["overall"]["engagement_rate"] is None  # no impressions


def test_facebook_reactions_and_instagram_insights_from_their_documented_examples(client, session):
    (fb,) = engagement.counts_from_payload("facebook", payload("facebook/object_reactions_summary.json"))
    assert fb.given() == {"likes": 28} and fb.external_id == "your-post-id"  # every reaction type
    (ig,) = engagement.counts_from_payload("instagram", payload("instagram/media_insights.json"))
    # "engagement" is likes + comments as one number; reach is not an impression count.
    assert ig.given() == {"impressions": 13, "likes": 8} and ig.external_id == "media_id"
    # Other Meta payloads carry no post counts: refused, not read as zeros.
    for platform, name in (
        ("facebook", "facebook/feed_status_add.json"),
        ("facebook", "facebook/feed_comment_add.json"),
        ("instagram", "instagram/messaging_text.json"),
    ):
        with pytest.raises(engagement.PayloadError):
            engagement.counts_from_payload(platform, payload(name))

    brand = factories.brand(session, "acme")
    when = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)
    page = _post(session, factories.account(session, "facebook", brand_obj=brand), "your-post-id", when)
    media = _post(session, factories.account(session, "instagram", brand_obj=brand), "media_id", when)
    token = create_token(session, "metrics", role="supervisor")
    session.commit()
    headers = {"Authorization": f"Bearer {token}"}

    def post(platform: str, name: str):
        return client.post(f"/api/v1/analytics/posts/metrics/{platform}", json=payload(name), headers=headers)

    answer = post("facebook", "facebook/object_reactions_summary.json")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "recorded": [{"message_id": page.id, "external_id": "your-post-id", "likes": 28}],
        "unknown": [],
    }
    assert post("instagram", "instagram/media_insights.json").status_code == 200
    # The id belongs to the platform named in the path: the Facebook post is no Instagram media.
    assert post("instagram", "facebook/object_reactions_summary.json").status_code == 422
    assert post("facebook", "instagram/media_insights.json").status_code == 422
    session.expire_all()
    fb_row, ig_row = session.get(PostMetrics, page.id), session.get(PostMetrics, media.id)
    assert (fb_row.impressions, fb_row.likes, fb_row.replies, fb_row.shares) == (0, 28, 0, 0)
    assert (ig_row.impressions, ig_row.likes, ig_row.replies, ig_row.shares) == (13, 8, 0, 0)
    overall = engagement_rate(session, Filters())["overall"]
    # Facebook gives no impressions: its reactions count as engagements, not in the rate.
    assert (overall["posts"], overall["posts_with_impressions"], overall["engagements"]) == (2, 1, 36)
    assert overall["engagement_rate"] == round(8 / 13, 4)
