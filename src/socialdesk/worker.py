"""Processing a batch of stored messages: each message in its own transaction."""

from __future__ import annotations

import logging

from socialdesk.db.engine import session_scope
from socialdesk.ingest.service import record_dead_letter
from socialdesk.queue.redis_streams import process_one

log = logging.getLogger(__name__)


def process_batch(message_ids: list[int]) -> int:
    """Process messages one transaction each, so one bad message cannot undo the others (the same
    locked, loaded, skip-if-done unit of work as a Redis worker). Returns how many were processed."""
    done = 0
    for message_id in message_ids:
        try:
            if process_one(message_id) is not None:
                done += 1
        except Exception as exc:
            log.exception("message %s failed in the pipeline", message_id)
            with session_scope() as session:
                record_dead_letter(
                    session,
                    source="worker",
                    reason=f"pipeline failed: {type(exc).__name__}: {exc}",
                    payload="",
                    details={"message_id": message_id},
                )
    return done
