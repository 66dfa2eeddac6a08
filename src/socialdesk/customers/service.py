"""Customer identity: one customer per platform identity, merged and split by agents."""

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from socialdesk.conversations.models import Conversation, Message
from socialdesk.customers.models import Customer, Identity


class CustomerError(ValueError):
    """A merge or split that cannot be done (unknown ids, merging a customer into itself...)."""


@dataclass(slots=True)
class IdentityKey:
    platform: str
    external_user_id: str


def get_or_create_identity(
    session: Session,
    platform: str,
    external_user_id: str,
    *,
    handle: str = "",
    display_name: str = "",
    followers: int = 0,
) -> Identity:
    """The identity for a platform user, creating it (and its customer) on first sight."""
    identity = session.scalar(
        select(Identity).where(Identity.platform == platform, Identity.external_user_id == external_user_id)
    )
    if identity is not None:
        _refresh(identity, handle, display_name, followers)
        return identity
    customer = Customer(name=display_name or handle, followers=followers)
    identity = Identity(
        customer=customer,
        platform=platform,
        external_user_id=external_user_id,
        handle=handle,
        display_name=display_name,
        followers=followers,
    )
    try:
        with session.begin_nested():
            session.add_all([customer, identity])
    except IntegrityError:
        # Another writer created it between our SELECT and INSERT: use theirs.
        identity = session.scalars(
            select(Identity).where(
                Identity.platform == platform, Identity.external_user_id == external_user_id
            )
        ).one()
    return identity


def _refresh(identity: Identity, handle: str, display_name: str, followers: int) -> None:
    if handle and identity.handle != handle:
        identity.handle = handle
    if display_name and identity.display_name != display_name:
        identity.display_name = display_name
    if followers and identity.followers != followers:
        identity.followers = followers
        customer = identity.customer
        customer.followers = max(customer.followers, followers)


def merge_customers(session: Session, keep_id: int, merge_id: int) -> Customer:
    """Move every identity, conversation and message of ``merge_id`` onto ``keep_id``."""
    if keep_id == merge_id:
        raise CustomerError("cannot merge a customer into itself")
    keep = session.get(Customer, keep_id)
    other = session.get(Customer, merge_id)
    if keep is None or other is None:
        missing = keep_id if keep is None else merge_id
        raise CustomerError(f"customer {missing} does not exist")
    for table in (Identity, Conversation, Message):
        session.execute(update(table).where(table.customer_id == merge_id).values(customer_id=keep_id))
    keep.name = keep.name or other.name
    keep.email = keep.email or other.email
    keep.phone = keep.phone or other.phone
    keep.locale = keep.locale or other.locale
    keep.country = keep.country or other.country
    keep.followers = max(keep.followers, other.followers)
    keep.vip = keep.vip or other.vip
    keep.tags = sorted(set(keep.tags) | set(other.tags))
    keep.notes = "\n".join(n for n in (keep.notes, other.notes) if n)
    session.flush()
    session.expire_all()
    session.delete(session.get(Customer, merge_id))
    session.flush()
    return keep


def split_identity(session: Session, identity_id: int) -> Customer:
    """Give one identity (and its conversations) back a customer of its own."""
    identity = session.get(Identity, identity_id)
    if identity is None:
        raise CustomerError(f"identity {identity_id} does not exist")
    old_customer_id = identity.customer_id
    siblings = session.scalar(
        select(Identity.id)
        .where(Identity.customer_id == old_customer_id, Identity.id != identity_id)
        .limit(1)
    )
    if siblings is None:
        raise CustomerError("the customer has only this identity; nothing to split")
    customer = Customer(name=identity.display_name or identity.handle, followers=identity.followers)
    session.add(customer)
    session.flush()
    identity.customer_id = customer.id
    # Conversations and messages follow the identity that wrote them.
    authored = select(Message.conversation_id).where(
        Message.platform == identity.platform,
        Message.author_external_id == identity.external_user_id,
        Message.direction == "inbound",
    )
    session.execute(
        update(Conversation)
        .where(Conversation.customer_id == old_customer_id, Conversation.id.in_(authored))
        .values(customer_id=customer.id)
    )
    session.execute(
        update(Message)
        .where(
            Message.customer_id == old_customer_id,
            Message.conversation_id.in_(
                select(Conversation.id).where(Conversation.customer_id == customer.id)
            ),
        )
        .values(customer_id=customer.id)
    )
    session.flush()
    session.expire_all()
    return session.get(Customer, customer.id)  # type: ignore[return-value]
