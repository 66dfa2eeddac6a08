"""Which conversation a stored message belongs to.

Rules, in order:
1. A reply to a message we know joins that message's conversation.
2. Otherwise the newest conversation of the same account and thread key (an X
   conversation_id, a post's comment tree, a DM thread, a WhatsApp number, a Telegram chat).
3. A customer message on a resolved conversation reopens it inside the reopen window and
   starts the thread's next conversation (``generation`` + 1) after it; closed never reopens.
4. A public post not addressed to the brand, with no known parent, is a listening mention
   and belongs to no conversation until someone converts it.
"""

from datetime import datetime, timedelta

from socialdesk.conversations.models import Conversation, ConversationEvent, Message

REOPENABLE = {"resolved"}
FINISHED = {"resolved", "closed"}


def needs_new_generation(conversation: Conversation, at: datetime, reopen_window: timedelta) -> bool:
    if conversation.status == "closed":
        return True
    if conversation.status == "resolved":
        resolved_at = conversation.resolved_at or conversation.last_message_at
        return at - resolved_at > reopen_window
    return False


def add_message(conversation: Conversation, message: Message) -> list[ConversationEvent]:
    """Attach a message and keep the conversation's clocks; returns the events it caused."""
    events: list[ConversationEvent] = []
    at = message.sent_at
    message.conversation = conversation
    if message.customer is None:
        message.customer = conversation.customer
    conversation.message_count = (conversation.message_count or 0) + 1
    if conversation.last_message_at is None or at > conversation.last_message_at:
        conversation.last_message_at = at
    if message.direction == "inbound":
        if conversation.status in REOPENABLE:
            conversation.status = "open"
            conversation.resolved_at = None
            events.append(ConversationEvent(conversation=conversation, kind="reopened", at=at))
        elif conversation.status == "pending":
            # The customer answered: the conversation is waiting on us again.
            conversation.status = "open"
            events.append(
                ConversationEvent(
                    conversation=conversation,
                    kind="status_changed",
                    at=at,
                    data={"from": "pending", "to": "open", "reason": "customer_replied"},
                )
            )
        if conversation.last_inbound_at is None or at > conversation.last_inbound_at:
            conversation.last_inbound_at = at
        if conversation.waiting_since is None:
            conversation.waiting_since = at
        if message.is_public and conversation.visibility == "private":
            conversation.visibility = "mixed"
    else:
        if conversation.first_response_at is None and conversation.last_inbound_at is not None:
            conversation.first_response_at = at
        conversation.waiting_since = None
        if conversation.status == "new":
            conversation.status = "open"
    events.append(
        ConversationEvent(
            conversation=conversation,
            kind="message_in" if message.direction == "inbound" else "message_out",
            at=at,
            actor_agent_id=message.sent_by_agent_id,
            data={"external_id": message.external_id, "public": message.is_public},
        )
    )
    return events
