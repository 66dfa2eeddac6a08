"""Engagement counts for the brand's own posts, read from the platforms' own payloads.

Only fields the platforms document are read (tests/fixtures/platforms/README.md names the
published examples the tests use):

- X API v2 Post objects (``data``: one object or a list): ``public_metrics`` (``like_count``,
  ``reply_count``, ``retweet_count``, ``quote_count``, ``impression_count``), and impressions from
  the owner-only ``non_public_metrics`` / ``organic_metrics``; X v1.1 Tweet objects
  (``favorite_count``, ``reply_count``, ``retweet_count``, ``quote_count``; no impressions).
- YouTube ``videos.list`` with ``part=statistics``: ``viewCount`` (impressions: YouTube's views),
  ``likeCount``, ``commentCount`` (replies); YouTube gives no share count. The list is ``items``
  in the API reference (``videos`` in the getting-started guide's example; both are read).

- Facebook: a Page post read with ``fields=reactions.summary(total_count)`` (Graph API "Object
  Reactions" example): ``reactions.summary.total_count`` counts as likes (every reaction type:
  like, love, haha...). Comments and shares summaries are not read: no published example
  response was found to test against.
- Instagram: ``GET /<media-id>/insights`` (Insights guide, "Instagram media request" example):
  the ``impressions`` metric, and ``engagement`` ("likes and comments on the media object", one
  number: recorded as likes, replies left as they are). The media's id is the part of each
  metric's ``id`` before ``/insights/``. The media fields ``like_count`` / ``comments_count``
  are not read: no published example response was found.

A count a payload does not give stays as it was (``None`` here), so a public-metrics payload
and a private-metrics one for the same post combine. Posts without impressions count toward
engagements but are left out of the rate (docs/kpis.md, "Engagement rate").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.analytics.models import PostMetrics
from socialdesk.conversations.models import Message
from socialdesk.db.base import utcnow

FIELDS = ("impressions", "likes", "replies", "shares")


class PayloadError(ValueError):
    """The payload holds no post with counts this module knows how to read."""


@dataclass(slots=True)
class PostCounts:
    external_id: str
    impressions: int | None = None
    likes: int | None = None
    replies: int | None = None
    shares: int | None = None

    def given(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in FIELDS if getattr(self, name) is not None}


def _int(value: Any) -> int | None:
    """A count (YouTube sends numbers as strings); None when absent or not a count."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _first(*values: Any) -> int | None:
    for value in values:
        number = _int(value)
        if number is not None:
            return number
    return None


def _x_post(post: dict[str, Any]) -> PostCounts | None:
    post_id = post.get("id_str") or post.get("id")
    if post_id is None:
        return None
    public = post.get("public_metrics") or {}
    private = post.get("non_public_metrics") or {}
    organic = post.get("organic_metrics") or {}
    # Likes, replies and shares are the public totals (organic ones leave out promoted views);
    # impressions come from whichever metrics group carries them.
    retweets = _first(public.get("retweet_count"), post.get("retweet_count"))
    quotes = _first(public.get("quote_count"), post.get("quote_count"))
    counts = PostCounts(
        external_id=str(post_id),
        impressions=_first(
            public.get("impression_count"), private.get("impression_count"), organic.get("impression_count")
        ),
        likes=_first(public.get("like_count"), post.get("favorite_count")),
        replies=_first(public.get("reply_count"), post.get("reply_count")),
        shares=None if retweets is None and quotes is None else (retweets or 0) + (quotes or 0),
    )
    return counts if counts.given() else None


def _youtube_video(video: dict[str, Any]) -> PostCounts | None:
    stats = video.get("statistics")
    if not isinstance(stats, dict) or not isinstance(video.get("id"), str):
        return None
    counts = PostCounts(
        external_id=video["id"],
        impressions=_int(stats.get("viewCount")),
        likes=_int(stats.get("likeCount")),
        replies=_int(stats.get("commentCount")),
    )
    return counts if counts.given() else None


def _facebook_post(post: dict[str, Any]) -> PostCounts | None:
    reactions = post.get("reactions")
    summary = reactions.get("summary") if isinstance(reactions, dict) else None
    if not isinstance(post.get("id"), str) or not isinstance(summary, dict):
        return None
    counts = PostCounts(external_id=post["id"], likes=_int(summary.get("total_count")))
    return counts if counts.given() else None


_INSTAGRAM_METRICS = {"impressions": "impressions", "engagement": "likes"}


def _instagram_insights(metrics: list[Any]) -> list[PostCounts | None]:
    """One PostCounts per media in an insights response (metric ids are ``<media>/insights/...``)."""
    by_media: dict[str, PostCounts] = {}
    for metric in metrics:
        if not isinstance(metric, dict) or metric.get("name") not in _INSTAGRAM_METRICS:
            continue
        metric_id, values = metric.get("id"), metric.get("values")
        if not isinstance(metric_id, str) or "/insights/" not in metric_id or not isinstance(values, list):
            continue
        # A lifetime metric has one value; the last one is the latest otherwise.
        value = _int(values[-1].get("value")) if values and isinstance(values[-1], dict) else None
        if value is None:
            continue
        media = metric_id.split("/insights/", 1)[0]
        counts = by_media.setdefault(media, PostCounts(external_id=media))
        setattr(counts, _INSTAGRAM_METRICS[metric["name"]], value)
    return list(by_media.values())


def counts_from_payload(platform: str, payload: Any) -> list[PostCounts]:
    """Every post with counts in a platform's API response; PayloadError when there is none."""
    if not isinstance(payload, dict):
        raise PayloadError("the payload must be a JSON object")
    found: list[PostCounts | None] = []
    if platform == "x":
        data = payload.get("data", payload)
        posts = data if isinstance(data, list) else [data]
        found = [_x_post(p) for p in posts if isinstance(p, dict)]
    elif platform == "youtube":
        videos = payload.get("items", payload.get("videos", []))
        found = [_youtube_video(v) for v in videos if isinstance(v, dict)] if isinstance(videos, list) else []
    elif platform == "facebook":
        found = [_facebook_post(payload)]
    elif platform == "instagram":
        metrics = payload.get("data")
        found = _instagram_insights(metrics) if isinstance(metrics, list) else []
    else:
        raise PayloadError(
            f"counts are read from x, youtube, facebook and instagram payloads, not {platform!r}"
        )
    posts = [p for p in found if p is not None]
    if not posts:
        raise PayloadError(f"no post with counts in this {platform} payload")
    return posts


def record_counts(session: Session, platform: str, posts: list[PostCounts]) -> dict[str, Any]:
    """Store the counts on the brand's own posts with these ids; unknown ids are reported back."""
    ids = [p.external_id for p in posts]
    messages = {
        m.external_id: m
        for m in session.scalars(
            select(Message).where(
                Message.platform == platform, Message.direction == "outbound", Message.external_id.in_(ids)
            )
        )
    }
    recorded, unknown = [], []
    for post in posts:
        message = messages.get(post.external_id)
        if message is None:
            unknown.append(post.external_id)
            continue
        row = session.get(PostMetrics, message.id)
        if row is None:
            row = PostMetrics(message_id=message.id, impressions=0, likes=0, replies=0, shares=0)
            session.add(row)
        for name, value in post.given().items():
            setattr(row, name, value)
        row.recorded_at = utcnow()
        recorded.append({"message_id": message.id, "external_id": post.external_id, **post.given()})
    session.flush()
    return {"recorded": recorded, "unknown": unknown}


def record_from_message(session: Session, message: Message) -> None:
    """Pipeline step: a brand post whose stored payload carries counts (an X Post object) records them."""
    if message.direction != "outbound" or not isinstance(message.raw, dict) or message.platform != "x":
        return
    post = _x_post(message.raw)
    if post is not None and post.external_id == message.external_id:
        record_counts(session, message.platform, [post])
