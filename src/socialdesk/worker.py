"""Processing a batch of stored messages: each message in its own transaction."""

from __future__ import annotations

import logging

from socialdesk.db.engine import session_scope
from socialdesk.ingest.service import record_dead_letter
from socialdesk.live import publish
from socialdesk.pipeline import process_message

log = logging.getLogger(__name__)


def process_batch(message_ids: list[int]) -> int:
    """Process messages one transaction each, so one bad message cannot undo the others."""
    done = 0
    for message_id in message_ids:
        try:
            with session_scope() as session:
                summary = process_message(session, message_id)
            if summary is not None:
                done += 1
                publish("message.created", **summary)
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
