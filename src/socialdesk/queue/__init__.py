"""The hand-off between ingestion and workers: in-process by default, Redis Streams at scale."""

from socialdesk.queue.base import MessageQueue, get_queue, set_queue

__all__ = ["MessageQueue", "get_queue", "set_queue"]
