"""Queueing replies: limits, messaging windows, X thread splits, public → private handoff.

A reply is checked here, when the agent can still fix it, and stored as an outbound Message
(delivery_status "queued") plus an OutboxItem; ``outbox/sender.py`` sends it. Clock effects
on the conversation (first response, waiting since) apply when the platform confirms the
send, not when the reply is queued.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from socialdesk.auth.service import Principal
from socialdesk.brands.models import SocialAccount
from socialdesk.conversations.actions import record
from socialdesk.conversations.models import Conversation, Message
from socialdesk.db.base import utcnow
from socialdesk.outbox.models import OutboxItem
from socialdesk.platforms.base import Connector
from socialdesk.platforms.registry import get_connector

PLATFORM_NAMES = {
    "x": "X",
    "facebook": "Facebook",
    "messenger": "Messenger",
    "instagram": "Instagram",
    "whatsapp": "WhatsApp",
    "telegram": "Telegram",
    "youtube": "YouTube",
}
# Platforms whose replies can go privately to the person who wrote publicly.
HANDOFF_PLATFORMS = ("x", "facebook", "instagram")
MAX_THREAD_PARTS = 25

# The short public reply of a handoff, in the customer's language (English otherwise).
HANDOFF_PUBLIC = {
    "en": "We've sent you a DM so we can look into this privately.",
    "de": "Wir haben Ihnen eine Direktnachricht geschickt, damit wir das vertraulich klären können.",
    "fr": "Nous vous avons envoyé un message privé pour traiter cela en toute confidentialité.",
    "es": "Le hemos enviado un mensaje directo para revisarlo en privado.",
    "it": "Le abbiamo inviato un messaggio privato per verificare la cosa in modo riservato.",
    "pt": "Enviámos-lhe uma mensagem privada para tratarmos disto em privado.",
    "nl": "We hebben u een privébericht gestuurd, zodat we dit vertrouwelijk kunnen bekijken.",
    "ja": "詳しく確認するため、ダイレクトメッセージをお送りしました。",
}
HANDOFF_PRIVATE = {
    "en": "Hi, thanks for reaching out. Could you share your order number or account email here "
    "so we can help?",
    "de": "Hallo, danke für Ihre Nachricht. Könnten Sie uns hier Ihre Bestellnummer oder "
    "Konto-E-Mail nennen, damit wir helfen können?",
    "fr": "Bonjour, merci de nous avoir contactés. Pourriez-vous nous indiquer ici votre numéro de "
    "commande ou l'e-mail de votre compte ?",
    "es": "Hola, gracias por escribirnos. ¿Podría indicarnos aquí su número de pedido o el correo "
    "de su cuenta para ayudarle?",
    "it": "Salve, grazie per averci scritto. Può indicarci qui il numero d'ordine o l'e-mail "
    "dell'account, così possiamo aiutarla?",
    "pt": "Olá, obrigado pelo contacto. Pode indicar-nos aqui o número da encomenda ou o e-mail "
    "da conta para o podermos ajudar?",
    "nl": "Hallo, bedankt voor uw bericht. Kunt u hier uw bestelnummer of het e-mailadres van uw "
    "account delen, zodat we u kunnen helpen?",
    "ja": "ご連絡ありがとうございます。注文番号またはアカウントのメールアドレスをお知らせいただけますか。",
}


class ReplyError(ValueError):
    """A reply that cannot be queued as asked; the message says why and what would work."""


class LimitError(ReplyError):
    """Over the platform's length limit. ``length``/``limit`` as the platform counts them."""

    def __init__(self, message: str, *, length: int, limit: int, parts: int | None = None):
        super().__init__(message)
        self.length = length
        self.limit = limit
        self.parts = parts


class WindowError(ReplyError):
    """Outside the platform's messaging window for free-form private replies."""


def platform_name(platform: str) -> str:
    return PLATFORM_NAMES.get(platform, platform)


def last_inbound(session: Session, conversation: Conversation) -> Message | None:
    return session.scalar(
        select(Message)
        .where(Message.conversation_id == conversation.id, Message.direction == "inbound")
        .order_by(Message.sent_at.desc(), Message.id.desc())
        .limit(1)
    )


def measure(connector: Connector, text: str, is_public: bool) -> int:
    # X weighs public posts (URLs 23, CJK/emoji 2); its DMs count plain characters.
    if connector.name == "x" and not is_public:
        return len(text)
    return connector.text_length(text)


def limit_for(connector: Connector, is_public: bool) -> int:
    return connector.limits.max_chars_public if is_public else connector.limits.max_chars_private


def window_open(connector: Connector, conversation: Conversation, is_public: bool, now: datetime) -> bool:
    hours = connector.limits.messaging_window_hours
    if is_public or hours is None:
        return True
    last = conversation.last_inbound_at
    return last is not None and now - last <= timedelta(hours=hours)


def split_thread(connector: Connector, text: str, limit: int) -> list[str]:
    """Numbered posts ("… (1/3)") each within ``limit`` as the platform counts it, split at
    word boundaries (a single over-long word is cut)."""
    words = text.split()
    if not words:
        return []
    for total in range(2, MAX_THREAD_PARTS + 1):
        parts = _pack(connector, words, limit, total)
        if parts is not None:
            return [f"{part} ({n}/{len(parts)})" for n, part in enumerate(parts, 1)]
    raise LimitError(
        f"reply is too long even for a thread of {MAX_THREAD_PARTS} posts",
        length=connector.text_length(text),
        limit=limit,
    )


def _pack(connector: Connector, words: list[str], limit: int, total: int) -> list[str] | None:
    """Greedy packing into at most ``total`` posts with room for the " (n/total)" suffix."""
    suffix = f" ({total}/{total})"

    def fits(candidate: str) -> bool:
        return connector.text_length(candidate + suffix) <= limit

    words = list(words)
    parts: list[str] = []
    current = ""
    i = 0
    while i < len(words):
        word = words[i]
        candidate = f"{current} {word}" if current else word
        if fits(candidate):
            current = candidate
            i += 1
            continue
        if current:
            parts.append(current)
            current = ""
        else:
            # One word longer than a post: cut it where it still fits.
            cut = len(word) - 1
            while cut > 1 and not fits(word[:cut]):
                cut -= 1
            parts.append(word[:cut])
            words[i] = word[cut:]
        if len(parts) >= total:
            return None
    if current:
        parts.append(current)
    return parts if len(parts) <= total else None


def _placeholder_id(key: str) -> str:
    # Unique per account until the platform gives the real id.
    return f"outbox:{key}"


def queue_reply(
    session: Session,
    conversation: Conversation,
    text: str,
    *,
    actor: Principal | None,
    template_id: int | None = None,
    public: bool | None = None,
    split: bool = False,
    automatic: bool | None = None,
    send_after: datetime | None = None,
    now: datetime | None = None,
) -> Message:
    """Queue a reply; returns its (first) outbound Message. ReplyError says what is wrong.

    ``automatic`` (default: no actor means automation) marks replies nobody typed just now:
    they may use approved templates only and wait while a crisis pauses automation.
    """
    from socialdesk.assist.templates import TemplateError, render_for, usable_template

    now = now or utcnow()
    automatic = actor is None if automatic is None else automatic
    if conversation.status == "closed":
        raise ReplyError(f"conversation {conversation.id} is closed; a new customer message starts a new one")
    account = session.get(SocialAccount, conversation.account_id)
    if account is None:  # pragma: no cover - guarded by the foreign key
        raise ReplyError("the conversation's account no longer exists")
    connector = get_connector(account.platform)
    name = platform_name(account.platform)
    parent = last_inbound(session, conversation)
    if public is None:
        public = parent.is_public if parent is not None else conversation.visibility != "private"
    if not public and connector.limits.max_chars_private <= 0:
        raise ReplyError(f"{name} has no private messages; reply publicly")
    if account.platform == "youtube" and not public:
        raise ReplyError("YouTube has no private messages; reply publicly")

    template = None
    locale = ""
    text = (text or "").strip()
    if template_id is not None:
        try:
            template = usable_template(session, template_id, conversation=conversation, automatic=automatic)
            rendered, locale = render_for(session, template, conversation, actor=actor)
        except TemplateError as exc:
            raise ReplyError(str(exc)) from exc
        text = text or rendered
    if not text:
        raise ReplyError("a reply needs text (or a template_id)")

    platform_template = ""
    if not window_open(connector, conversation, public, now):
        hours = connector.limits.messaging_window_hours
        since = conversation.last_inbound_at
        ago = f"{(now - since).total_seconds() / 3600:.0f} hours ago" if since else "never"
        if (
            account.platform == "whatsapp"
            and template is not None
            and template.approval == "approved"
            and template.whatsapp_template_name
        ):
            platform_template = template.whatsapp_template_name
        elif account.platform == "whatsapp":
            raise WindowError(
                f"outside WhatsApp's {hours}-hour customer service window (the customer last wrote {ago}); "
                "only an approved template with a WhatsApp template name can be sent now"
            )
        else:
            raise WindowError(
                f"outside {name}'s {hours}-hour messaging window (the customer last wrote {ago}); "
                "a free-form private reply is no longer allowed"
            )

    texts = [text]
    if not platform_template:
        length = measure(connector, text, public)
        limit = limit_for(connector, public)
        if length > limit:
            can_split = account.platform == "x" and public
            if can_split and split:
                texts = split_thread(connector, text, limit)
            elif can_split:
                parts = len(split_thread(connector, text, limit))
                raise LimitError(
                    f"reply is {length} characters (weighted as X counts them), over X's public limit of "
                    f"{limit}; send it with split=true to post it as a numbered thread of {parts} posts",
                    length=length,
                    limit=limit,
                    parts=parts,
                )
            else:
                where = "public" if public else "private"
                raise LimitError(
                    f"reply is {length} characters, over {name}'s {where} limit of {limit}; shorten it by "
                    f"{length - limit}",
                    length=length,
                    limit=limit,
                )
        elif split and len(texts) == 1 and account.platform != "x":
            raise ReplyError("split applies to X public posts only")

    recipient = parent.author_external_id if parent is not None else ""
    if account.platform == "whatsapp":
        recipient = conversation.thread_key
    first: Message | None = None
    previous: OutboxItem | None = None
    for part in texts:
        key = uuid.uuid4().hex
        message = Message(
            account_id=account.id,
            platform=account.platform,
            conversation_id=conversation.id,
            customer_id=conversation.customer_id,
            direction="outbound",
            kind="message",
            external_id=_placeholder_id(key),
            thread_key=conversation.thread_key,
            reply_to_external_id=parent.external_id if parent is not None else None,
            author_external_id=account.external_id,
            author_handle=account.handle,
            author_name=account.handle,
            text=part,
            is_public=public,
            sent_at=now,
            received_at=now,
            language=locale or conversation.language,
            delivery_status="queued",
            sent_by_agent_id=actor.agent_id if actor else None,
        )
        session.add(message)
        session.flush()
        item = OutboxItem(
            message_id=message.id,
            conversation_id=conversation.id,
            account_id=account.id,
            platform=account.platform,
            state="queued",
            idempotency_key=key,
            is_public=public,
            recipient_id=recipient,
            reply_to_external_id=parent.external_id if parent is not None else None,
            after_item_id=previous.id if previous is not None else None,
            template_id=template.id if template is not None else None,
            platform_template=platform_template,
            platform_template_language=(locale or "en").replace("-", "_") if platform_template else "",
            automatic=automatic,
            next_attempt_at=send_after or now,
        )
        session.add(item)
        session.flush()
        first = first or message
        previous = item
    assert first is not None
    record(
        session,
        conversation,
        "reply_queued",
        actor=actor,
        at=now,
        message_id=first.id,
        public=public,
        parts=len(texts),
        template_id=template.id if template is not None else None,
        automatic=automatic,
    )
    return first


def dm_thread_keys(account: SocialAccount, customer_user_id: str) -> list[str]:
    """The thread keys the customer's DMs with this account are stored under, derived exactly
    as the connectors' ``parse`` derives them (``platforms/x.py``, ``platforms/_meta.py``).

    X: Account Activity DMs join the two user ids with "-" (shorter, then lower, first), and
    API v2 DM events use ``dm_conversation_id``, which is that same pair for a one-to-one
    conversation, or the sender's id when it is missing. Instagram and Facebook (whose Page
    DMs are Messenger events): the customer's scoped id (IGSID / PSID) the comment came from.
    """
    if account.platform == "x":
        keys = []
        if account.external_id:
            keys.append("-".join(sorted((customer_user_id, account.external_id), key=lambda v: (len(v), v))))
        return [*keys, customer_user_id]
    return [customer_user_id]


def dm_accounts(session: Session, account: SocialAccount) -> list[SocialAccount]:
    """Where the customer's DMs may arrive: the account itself and, for a Facebook Page, a
    Messenger account connected for the same Page (same brand and Page id)."""
    accounts = [account]
    if account.platform == "facebook" and account.external_id:
        accounts += session.scalars(
            select(SocialAccount)
            .where(
                SocialAccount.platform == "messenger",
                SocialAccount.brand_id == account.brand_id,
                SocialAccount.external_id == account.external_id,
            )
            .order_by(SocialAccount.id)
        ).all()
    return accounts


def handoff(
    session: Session,
    conversation: Conversation,
    *,
    actor: Principal | None,
    public_text: str | None = None,
    private_text: str | None = None,
    now: datetime | None = None,
) -> tuple[Message, Message]:
    """Post a short public reply ("we've sent you a DM") and the first private message, both
    in this conversation (visibility becomes "mixed"), and alias the customer's DM thread to
    it, so the customer's answer by DM (and everything after) joins this conversation.

    The private message goes to the DM thread: its thread key is the DM thread's and the
    outbox sends it to the customer's user id (X ``dm_conversations/with/{id}``, the Meta Send
    API's recipient). An existing, not closed, private conversation on that DM thread (or,
    failing that, the customer's newest private one on the account) is linked, not merged:
    it keeps its own history, clocks and assignee, both sides get an event naming the other,
    and from now on the thread's new messages land here. See docs/sla.md ("Handoff").
    """
    from socialdesk.assist.templates import customer_language
    from socialdesk.conversations.aliases import latest_on_threads, set_alias

    now = now or utcnow()
    if conversation.platform not in HANDOFF_PLATFORMS:
        raise ReplyError(
            f"handoff works on {', '.join(platform_name(p) for p in HANDOFF_PLATFORMS)}; "
            f"{platform_name(conversation.platform)} conversations are already private or have no DMs"
        )
    parent = last_inbound(session, conversation)
    if parent is None or not parent.is_public:
        raise ReplyError(
            "handoff starts from a public customer message; this conversation has none to answer"
        )
    if not parent.author_external_id:
        raise ReplyError("the public message has no author id, so there is nobody to send a DM to")
    account = session.get(SocialAccount, conversation.account_id)
    assert account is not None  # the foreign key
    if account.platform == "x" and not account.external_id:
        # X DM threads are keyed by both user ids: without ours the answer could not be matched.
        raise ReplyError(
            f"the X account {account.slug!r} has no user id (external_id); set it so the customer's "
            "DMs can be kept in this conversation"
        )
    keys = dm_thread_keys(account, parent.author_external_id)
    accounts = dm_accounts(session, account)

    linked: Conversation | None = None
    for dm_account in accounts:
        found = latest_on_threads(session, dm_account.id, keys)
        candidates = [found[k] for k in keys if k in found]
        linked = next((c for c in candidates if c.id != conversation.id and c.status != "closed"), None)
        if linked is not None:
            break
    if linked is None and conversation.customer_id is not None:
        linked = session.scalar(
            select(Conversation)
            .where(
                Conversation.account_id == conversation.account_id,
                Conversation.customer_id == conversation.customer_id,
                Conversation.visibility == "private",
                Conversation.status != "closed",
                Conversation.id != conversation.id,
            )
            .order_by(Conversation.last_message_at.desc())
            .limit(1)
        )

    language = (customer_language(conversation) or "en").split("-")[0].lower()
    public_message = queue_reply(
        session,
        conversation,
        public_text or HANDOFF_PUBLIC.get(language, HANDOFF_PUBLIC["en"]),
        actor=actor,
        public=True,
        now=now,
    )
    private_message = queue_reply(
        session,
        conversation,
        private_text or HANDOFF_PRIVATE.get(language, HANDOFF_PRIVATE["en"]),
        actor=actor,
        public=False,
        now=now,
    )
    private_message.thread_key = keys[0]  # the DM thread, where the platform will show it
    conversation.visibility = "mixed"
    for dm_account in accounts:
        for key in keys:
            set_alias(session, dm_account.id, key, conversation)
    record(
        session,
        conversation,
        "handoff",
        actor=actor,
        at=now,
        public_message_id=public_message.id,
        private_message_id=private_message.id,
        dm_thread_keys=keys,
        linked_conversation_id=linked.id if linked is not None else None,
    )
    if linked is not None:
        record(session, linked, "handoff_linked", actor=actor, at=now, from_conversation_id=conversation.id)
    session.flush()
    return public_message, private_message


def handoff_to_private(
    session: Session, conversation: Conversation, text: str, *, actor: Principal | None
) -> tuple[Message, Message]:
    """The composer's "move to DM": the agent's text goes privately, the public nudge is the
    localised default."""
    return handoff(session, conversation, actor=actor, private_text=text or None)
