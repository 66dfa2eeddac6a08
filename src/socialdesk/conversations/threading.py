"""Which conversation a stored message belongs to.

Rules, in order:
1. A reply to a message we know joins that message's conversation.
2. Otherwise the newest conversation of the same account and thread key (an X
   conversation_id, a post's comment tree, a DM thread, a WhatsApp number, a Telegram chat).
3. A customer message on a resolved conversation reopens it inside the reopen window and
   starts the thread's next conversation (``generation`` + 1) after it; closed never reopens.
   Except: a customer message that answers the finished conversation's CSAT survey (the
   ``answers_survey`` check, from the analytics domain) joins it without reopening it.
4. A public post not addressed to the brand, with no known parent, is a listening mention
   and belongs to no conversation until someone converts it.
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from socialdesk.conversations.models import Conversation, ConversationEvent, Message

REOPENABLE = {"resolved"}
FINISHED = {"resolved", "closed"}


def needs_new_generation(conversation: Any, at: datetime, reopen_window: timedelta) -> bool:
    if conversation.status == "closed":
        return True
    if conversation.status == "resolved":
        resolved_at = conversation.resolved_at or conversation.last_message_at
        return at - resolved_at > reopen_window
    return False


@dataclass(slots=True)
class Placement:
    """Where a new message goes: into ``conversation``, or a new one on ``thread_key``."""

    conversation: Any | None
    thread_key: str
    generation: int = 1
    survey_answer: bool = False  # an answer to the finished conversation's CSAT survey


def place_message(
    *,
    direction: str,
    at: datetime,
    thread_key: str,
    addressed_to_brand: bool,
    parent: tuple[Any | None, str] | None,
    latest: Callable[[str], Any | None],
    reopen_window: timedelta,
    answers_survey: Callable[[Any], bool] | None = None,
) -> Placement | None:
    """Apply the module's rules; None means the message belongs to no conversation.

    ``parent`` is (its conversation, its thread key) when the message replies to one we
    know; ``latest(thread_key)`` returns the newest conversation on that key, if any;
    ``answers_survey(conversation)`` says whether this inbound message answers that finished
    conversation's survey.
    """
    if direction == "inbound" and answers_survey is not None:
        candidate, key = parent if parent is not None else (latest(thread_key), thread_key)
        if candidate is not None and candidate.status in FINISHED and answers_survey(candidate):
            return Placement(candidate, key, survey_answer=True)
    if parent is not None:
        parent_conversation, thread_key = parent
        if parent_conversation is not None and (
            direction == "outbound" or not needs_new_generation(parent_conversation, at, reopen_window)
        ):
            return Placement(parent_conversation, thread_key)
    elif not addressed_to_brand:
        return None
    newest = latest(thread_key)
    if newest is not None and not (
        direction == "inbound" and needs_new_generation(newest, at, reopen_window)
    ):
        return Placement(newest, thread_key)
    if direction == "outbound":
        # A brand post that answers nothing we know starts no conversation.
        return None
    return Placement(None, thread_key, (newest.generation + 1) if newest is not None else 1)


@dataclass(slots=True)
class EventSpec:
    kind: str
    at: datetime
    data: dict[str, Any] = field(default_factory=dict)
    actor_agent_id: int | None = None


def record_message(
    conversation: Any,
    *,
    direction: str,
    at: datetime,
    is_public: bool,
    external_id: str,
    agent_id: int | None = None,
    survey_answer: bool = False,
) -> list[EventSpec]:
    """Advance a conversation's state and clocks for one new message; returns its events.

    A ``survey_answer`` (see ``Placement``) changes no status or clock: it is recorded as a
    ``survey_reply`` event, not ``message_in``, so no wait and no reopen start from it.

    ``conversation`` is anything with the Conversation columns as attributes: the ORM model,
    or the lighter row the bulk importer keeps, so both follow exactly the same rules.
    """
    events: list[EventSpec] = []
    conversation.message_count = (conversation.message_count or 0) + 1
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
    if direction == "inbound" and survey_answer:
        if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
            conversation.last_inbound_at = at
        return [EventSpec("survey_reply", at, {"external_id": external_id, "public": is_public})]
    if direction == "inbound":
        if conversation.status in REOPENABLE:
            conversation.status = "open"
            conversation.resolved_at = None
            events.append(EventSpec("reopened", at))
        elif conversation.status == "pending":
            # The customer answered: the conversation is waiting on us again.
            conversation.status = "open"
            events.append(
                EventSpec(
                    "status_changed", at, {"from": "pending", "to": "open", "reason": "customer_replied"}
                )
            )
        if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
            conversation.last_inbound_at = at
        if conversation.waiting_since is None:
            conversation.waiting_since = at
        if is_public and conversation.visibility == "private":
            conversation.visibility = "mixed"
    else:
        if conversation.first_response_at is None and conversation.last_inbound_at is not None:
            conversation.first_response_at = at
        conversation.waiting_since = None
        if conversation.status == "new":
            conversation.status = "open"
    events.append(
        EventSpec(
            "message_in" if direction == "inbound" else "message_out",
            at,
            {"external_id": external_id, "public": is_public},
            agent_id,
        )
    )
    return events


def add_message(
    conversation: Conversation, message: Message, survey_answer: bool = False
) -> list[ConversationEvent]:
    """Attach an ORM message to its conversation; returns the ORM events it caused."""
    message.conversation = conversation
    if message.customer is None:
        message.customer = conversation.customer
    specs = record_message(
        conversation,
        direction=message.direction,
        at=message.sent_at,
        is_public=message.is_public,
        external_id=message.external_id,
        agent_id=message.sent_by_agent_id,
        survey_answer=survey_answer,
    )
    return [
        ConversationEvent(
            conversation=conversation, kind=e.kind, at=e.at, actor_agent_id=e.actor_agent_id, data=e.data
        )
        for e in specs
    ]
