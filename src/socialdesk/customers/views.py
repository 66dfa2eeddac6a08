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
from socialdesk.web.deps import CurrentPrincipal, DbSession, require_role

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


# --- orders from the brand's CRM (customers.crm) ------------------------------------------------


class OrderOut(BaseModel):
    id: str
    status: str
    total: str
    currency: str
    date: str
    link: str


class OrdersOut(BaseModel):
    state: str
    message: str
    orders: list[OrderOut]


class CrmConfigIn(BaseModel):
    endpoint_url: str
    secret_header: str = "Authorization"
    # Write-only: empty keeps the stored secret.
    secret: str = ""
    enabled: bool = True


class CrmConfigOut(BaseModel):
    brand_id: int
    endpoint_url: str
    secret_header: str
    secret_set: bool
    enabled: bool


def _crm_out(row) -> CrmConfigOut:
    return CrmConfigOut(
        brand_id=row.brand_id,
        endpoint_url=row.endpoint_url,
        secret_header=row.secret_header,
        secret_set=bool(row.secret_value),
        enabled=row.enabled,
    )


@router.get("/{customer_id}/orders", response_model=OrdersOut)
def customer_orders(
    customer_id: int, brand_id: int, session: DbSession, principal: CurrentPrincipal
) -> OrdersOut:
    """The customer's orders from the brand's CRM (docs/crm-lookup.md); ``state`` says why none."""
    from socialdesk.customers import crm

    customer = session.scalar(
        select(Customer).where(Customer.id == customer_id).options(selectinload(Customer.identities))
    )
    if customer is None:
        raise HTTPException(404, f"customer {customer_id} does not exist")
    result = crm.lookup_orders(session, brand_id, customer)
    return OrdersOut(
        state=result.state,
        message=result.message,
        orders=[
            OrderOut(
                id=o.id,
                status=o.status,
                total=str(o.total),
                currency=o.currency,
                date=o.date.isoformat(),
                link=o.link,
            )
            for o in result.orders
        ],
    )


@router.get("/crm/configs", response_model=list[CrmConfigOut], dependencies=[require_role("admin")])
def list_crm_configs(session: DbSession) -> list[CrmConfigOut]:
    from socialdesk.customers.models import CrmConfig

    return [_crm_out(r) for r in session.scalars(select(CrmConfig).order_by(CrmConfig.brand_id))]


@router.put("/crm/configs/{brand_id}", response_model=CrmConfigOut, dependencies=[require_role("admin")])
def put_crm_config(
    brand_id: int, body: CrmConfigIn, session: DbSession, principal: CurrentPrincipal
) -> CrmConfigOut:
    from socialdesk.customers import crm

    try:
        row = crm.save_config(session, brand_id, actor=principal, **body.model_dump())
    except crm.CrmError as exc:
        raise HTTPException(404 if "does not exist" in str(exc) else 422, str(exc)) from exc
    return _crm_out(row)
