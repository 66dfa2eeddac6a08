"""Prometheus metrics. Counters and histograms live in the process that counts them; with several
processes per host set ``PROMETHEUS_MULTIPROC_DIR`` (an empty directory, the same for all of them)
and ``/metrics`` sums them. Queue depth is read from Redis when scraped, so it needs no process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

INGESTED = Counter("socialdesk_messages_ingested", "Stored messages handed to the queue.")
PROCESSED = Counter("socialdesk_messages_processed", "Messages processed and committed by a worker.")
FAILURES = Counter(
    "socialdesk_message_failures",
    "Processing failures: error (the message's), transient (database down), dead_letter.",
    ["kind"],
)
SKIPPED = Counter("socialdesk_messages_skipped", "Redeliveries of messages already processed (or gone).")
RECLAIMED = Counter("socialdesk_messages_reclaimed", "Entries taken over from a stalled worker.")
SWEPT = Counter("socialdesk_messages_swept", "Stored messages the sweeper enqueued after a lost enqueue.")
PROCESSING_SECONDS = Histogram(
    "socialdesk_processing_seconds", "Pipeline time per message in a worker.", buckets=_LATENCY_BUCKETS
)
END_TO_END_SECONDS = Histogram(
    "socialdesk_end_to_end_seconds",
    "From the message being stored to its processing being committed.",
    buckets=_LATENCY_BUCKETS,
)


class QueueCollector(Collector):
    """Stream length, lag, pending and the age of the oldest unacknowledged entry, read at scrape."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from socialdesk.queue import get_queue
        from socialdesk.queue.redis_streams import RedisStreamQueue

        queue = get_queue()
        if not isinstance(queue, RedisStreamQueue):
            return
        try:
            stats = queue.stats()
        except Exception:  # Redis down: readiness says so; the scrape still answers
            return
        for name, value, doc in (
            ("socialdesk_queue_length", stats.length, "Entries in the stream."),
            ("socialdesk_queue_lag", stats.lag, "Entries no worker has read yet."),
            ("socialdesk_queue_pending", stats.pending, "Entries read but not acknowledged."),
            ("socialdesk_queue_oldest_age_seconds", stats.oldest_age_s, "Age of the oldest unacked entry."),
            ("socialdesk_queue_consumers", stats.consumers, "Consumers in the group."),
            ("socialdesk_queue_dead_letters", stats.dead_letters, "Entries in the dead-letter stream."),
        ):
            yield GaugeMetricFamily(name, doc, value=value)


def render() -> tuple[bytes, str]:
    """The exposition text for ``/metrics``: this process, or all of them in multi-process mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    queue_registry = CollectorRegistry()
    queue_registry.register(QueueCollector())
    return generate_latest(registry) + generate_latest(queue_registry), CONTENT_TYPE_LATEST
