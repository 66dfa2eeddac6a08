"""The customer panel's lazily loaded parts: orders from the brand's CRM and CSAT history.

They load after the conversation (htmx ``load`` trigger) so a slow CRM never delays the pane.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from socialdesk.conversations.models import Conversation
from socialdesk.customers import crm
from socialdesk.customers.models import Customer
from socialdesk.web.deps import DbSession
from socialdesk.web.ui.views import page_for, render

router = APIRouter(include_in_schema=False)


@router.get("/ui/conversations/{conversation_id}/orders", response_class=HTMLResponse)
def orders(request: Request, conversation_id: int, session: DbSession) -> HTMLResponse:
    page_for(request)
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        raise HTTPException(404, f"no conversation with id {conversation_id}")
    customer = None
    if conversation.customer_id is not None:
        customer = session.scalar(
            select(Customer)
            .where(Customer.id == conversation.customer_id)
            .options(selectinload(Customer.identities))
        )
    result = crm.lookup_orders(session, conversation.brand_id, customer)
    return render(request, "customers/_orders_list.html", result=result)


@router.get("/ui/customers/{customer_id}/csat", response_class=HTMLResponse)
def csat_history(request: Request, customer_id: int, session: DbSession) -> HTMLResponse:
    page_for(request)
    if session.get(Customer, customer_id) is None:
        raise HTTPException(404, f"no customer with id {customer_id}")
    from socialdesk.analytics.surveys import customer_history

    answers = customer_history(session, customer_id)
    average = sum(a["rating"] for a in answers) / len(answers) if answers else None
    return render(request, "analytics/_csat_list.html", answers=answers, average=average)
