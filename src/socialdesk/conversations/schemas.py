"""The JSON shapes of conversations and messages in the API."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    direction: str
    kind: str
    external_id: str
    thread_key: str
    reply_to_external_id: str | None
    author_external_id: str
    author_handle: str
    author_name: str
    text: str
    is_public: bool
    sent_at: datetime
    received_at: datetime
    language: str
    sentiment: str
    issue_type: str
    urgency: int | None
    delivery_status: str
    triage: dict[str, Any] | None = None


class ConversationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    brand_id: int
    account_id: int
    platform: str
    thread_key: str
    customer_id: int | None
    status: str
    priority: str
    assignee_id: int | None
    team_id: int | None
    labels: list[str]
    language: str
    visibility: str
    subject: str
    first_message_at: datetime
    last_message_at: datetime
    first_response_at: datetime | None
    waiting_since: datetime | None
    resolved_at: datetime | None
    message_count: int


class ConversationDetail(ConversationOut):
    messages: list[MessageOut]


class ConversationPage(BaseModel):
    items: list[ConversationOut]
    next_cursor: str | None
