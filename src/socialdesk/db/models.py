"""Every model, imported in one place so Alembic and create_all see the whole schema."""

from socialdesk.auth.models import ApiToken, AuditEntry
from socialdesk.brands.models import Brand, SocialAccount
from socialdesk.conversations.models import Conversation, ConversationEvent, Message, Note
from socialdesk.customers.models import Customer, Identity
from socialdesk.db.base import Base
from socialdesk.ingest.models import DeadLetter
from socialdesk.routing.models import Agent, Team, team_membership

__all__ = [
    "Agent",
    "ApiToken",
    "AuditEntry",
    "Base",
    "Brand",
    "Conversation",
    "ConversationEvent",
    "Customer",
    "DeadLetter",
    "Identity",
    "Message",
    "Note",
    "SocialAccount",
    "Team",
    "team_membership",
]

# Each domain that adds tables registers its models module below, one import line each,
# so Alembic and create_all see the whole schema.
import socialdesk.analytics.models  # noqa: E402,F401
import socialdesk.assist.models  # noqa: E402,F401
import socialdesk.automation.models  # noqa: E402,F401
import socialdesk.listening.models  # noqa: E402,F401
import socialdesk.ops.indexes  # noqa: E402,F401
import socialdesk.outbox.models  # noqa: E402,F401
import socialdesk.search.models  # noqa: E402,F401
import socialdesk.web.ui.models  # noqa: E402,F401
