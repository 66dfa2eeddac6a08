"""Agents merge customers across platforms and split a wrongly merged identity off again."""

import pytest
from sqlalchemy import select

from socialdesk.conversations.models import Conversation
from socialdesk.customers.models import Customer, Identity
from socialdesk.customers.service import CustomerError, merge_customers, split_identity
from socialdesk.ingest.service import Ingestor, IngestReport
from tests import factories


@pytest.fixture
def db_url(any_db_url: str) -> str:
    return any_db_url


def seed(session):
    x = factories.account(session, "x")
    wa = factories.account(session, "whatsapp", brand_obj=x.brand)
    ingestor, report = Ingestor(session), IngestReport()
    ingestor.store(x, factories.inbound("x1", author_id="tw-1", platform="x"), report)
    ingestor.store(
        wa,
        factories.inbound("w1", author_id="4915", platform="whatsapp", is_public=False, thread_key="4915"),
        report,
    )
    ingestor.finish(report)
    session.commit()
    return {i.platform: i for i in session.scalars(select(Identity))}


def test_merge_moves_identities_and_conversations_and_removes_the_other(session):
    ids = seed(session)
    keep, other = ids["x"].customer_id, ids["whatsapp"].customer_id
    merge_customers(session, keep, other)
    session.commit()
    assert session.get(Customer, other) is None
    assert {i.customer_id for i in session.scalars(select(Identity))} == {keep}
    assert {c.customer_id for c in session.scalars(select(Conversation))} == {keep}


def test_split_gives_the_identity_and_its_conversations_a_new_customer(session):
    ids = seed(session)
    keep = ids["x"].customer_id
    merge_customers(session, keep, ids["whatsapp"].customer_id)
    session.commit()
    new = split_identity(session, ids["whatsapp"].id)
    session.commit()
    assert new.id != keep
    wa_conv = session.scalars(select(Conversation).where(Conversation.platform == "whatsapp")).one()
    assert wa_conv.customer_id == new.id


def test_bad_merges_and_splits_are_refused_and_change_nothing(session):
    ids = seed(session)
    keep = ids["x"].customer_id
    with pytest.raises(CustomerError, match="itself"):
        merge_customers(session, keep, keep)
    with pytest.raises(CustomerError, match="does not exist"):
        merge_customers(session, keep, 10_000)
    with pytest.raises(CustomerError, match="only this identity"):
        split_identity(session, ids["x"].id)
    session.rollback()
    assert len(session.scalars(select(Customer)).all()) == 2
