"""/api/v1/customers: one customer across platforms; merge and split."""

from datetime import datetime

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from socialdesk.auth.service import audit
from socialdesk.conversations.models import Conversation
from socialdesk.conversations.schemas import ConversationOut
from socialdesk.customers import service
from socialdesk.customers.models import Customer
from socialdesk.web.deps import CurrentPrincipal, DbSession

router = APIRouter(prefix="/api/v1/customers", tags=["customers"])


class IdentityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    platform: str
    external_user_id: str
    handle: str
    display_name: str
    followers: int


class CustomerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    email: str
    phone: str
    locale: str
    country: str
    followers: int
    vip: bool
    tags: list[str]
    notes: str
    created_at: datetime
    identities: list[IdentityOut]


class CustomerDetail(CustomerOut):
    conversations: list[ConversationOut]


class MergeIn(BaseModel):
    merge_customer_id: int


def _detail(session, customer_id: int) -> CustomerDetail:
    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id).options(selectinload(Customer.identities))
    )
    if customer is None:
        raise HTTPException(404, f"customer {customer_id} does not exist")
    conversations = session.scalars(
        select(Conversation)
        .where(Conversation.customer_id == customer_id)
        .order_by(Conversation.last_message_at.desc())
    ).all()
    return CustomerDetail(
        **CustomerOut.model_validate(customer).model_dump(),
        conversations=[ConversationOut.model_validate(c) for c in conversations],
    )


@router.get("/{customer_id}", response_model=CustomerDetail)
def get_customer(customer_id: int, session: DbSession, principal: CurrentPrincipal) -> CustomerDetail:
    return _detail(session, customer_id)


@router.post("/{customer_id}/merge", response_model=CustomerDetail)
def merge(customer_id: int, body: MergeIn, session: DbSession, principal: CurrentPrincipal) -> CustomerDetail:
    """Fold another customer into this one (identities, conversations, messages)."""
    try:
        service.merge_customers(session, customer_id, body.merge_customer_id)
    except service.CustomerError as exc:
        raise HTTPException(404 if "does not exist" in str(exc) else 422, str(exc)) from exc
    audit(session, principal.name, "customer.merge", f"customer:{customer_id}", merged=body.merge_customer_id)
    return _detail(session, customer_id)


@router.post("/identities/{identity_id}/split", response_model=CustomerDetail)
def split(identity_id: int, session: DbSession, principal: CurrentPrincipal) -> CustomerDetail:
    """Move one identity (and the conversations it wrote) to a new customer of its own."""
    try:
        customer = service.split_identity(session, identity_id)
    except service.CustomerError as exc:
        raise HTTPException(404 if "does not exist" in str(exc) else 422, str(exc)) from exc
    audit(session, principal.name, "customer.split", f"identity:{identity_id}", new_customer=customer.id)
    return _detail(session, customer.id)
