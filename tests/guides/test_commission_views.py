"""The commission statement pages (portal/guides/commission_views.py) on the demo network: HQ
approves, records payment and downloads the month's XLSX; a store owner reads its own store's
statements and may not approve; another store's statement is a 404; a guide reads their own."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.guides import roster, settlement
from portal.guides.models import CommissionStatement
from portal.network.models import User
from tests.guides.commission_support import entry
from tests.support.services import org

PERIOD = "2025-03"


def user(email: str) -> User:
    return db.session.execute(select(User).where(User.email == email)).scalar_one()


@pytest.fixture
def month(app):
    brand = org("ACME")
    s1, s2 = org("S1"), org("S2")
    guides = {
        # The demo's S1 people are guides already (portal/seed/guides.py); S2's owner becomes one.
        "staff1": roster.guide_for(user("staff1@demo.test").id, s1.id, brand.id),
        "owner1": roster.guide_for(user("store1@demo.test").id, s1.id, brand.id),
        "owner2": roster.guide_for(user("store2@demo.test").id, s2.id, brand.id),
    }
    entry(guides["staff1"], 1200, datetime(2025, 3, 5, tzinfo=UTC))
    entry(guides["owner1"], 800, datetime(2025, 3, 9, tzinfo=UTC))
    entry(guides["owner2"], 4321, datetime(2025, 3, 12, tzinfo=UTC))
    settlement.settle_month(brand.id, PERIOD)
    db.session.commit()
    rows = db.session.execute(
        select(CommissionStatement).where(
            CommissionStatement.brand_id == brand.id, CommissionStatement.period == PERIOD
        )
    ).scalars()
    found = {(s.org_id, s.guide_id): s for s in rows}
    return {
        "s1": found[(s1.id, None)],
        "s2": found[(s2.id, None)],
        **{name: found[(g.org_id, g.id)] for name, g in guides.items()},
    }


def status_of(statement: CommissionStatement) -> str:
    db.session.expire_all()
    return db.session.get(CommissionStatement, statement.id).status


def test_hq_approves_a_store_with_its_guides_then_records_payment(client, login, month):
    login("hq@demo.test")
    page = client.get(f"/commission/statements?period={PERIOD}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "¥63.21" in text  # the month's total: 12.00 + 8.00 + 43.21
    assert "¥43.21" in text and "S2" in text

    answer = client.post(f"/commission/statements/{month['s1'].id}/approve")
    assert answer.status_code == 302
    assert [status_of(month[k]) for k in ("s1", "staff1", "owner1", "s2")] == [
        "approved",
        "approved",
        "approved",
        "draft",
    ]
    refused = client.post(
        f"/commission/statements/{month['s1'].id}/paid",
        data={"reference": ""},
        follow_redirects=True,
    )
    assert "reference" in refused.get_data(as_text=True).lower()
    assert status_of(month["s1"]) == "approved"
    client.post(f"/commission/statements/{month['s1'].id}/paid", data={"reference": "BANK-778"})
    db.session.expire_all()
    paid = db.session.get(CommissionStatement, month["staff1"].id)
    assert (paid.status, paid.paid_reference) == ("paid", "BANK-778")
    detail = client.get(f"/commission/statements/{month['s1'].id}").get_data(as_text=True)
    assert "BANK-778" in detail and "¥12.00" in detail and "¥8.00" in detail


def test_approving_every_guide_approves_their_store(client, login, month):
    login("hq@demo.test")
    client.post(f"/commission/statements/{month['owner2'].id}/approve")
    assert status_of(month["s2"]) == "approved"


def test_hq_downloads_the_months_statements_as_xlsx(client, login, month):
    login("hq@demo.test")
    answer = client.get(f"/commission/statements.xlsx?period={PERIOD}")
    assert answer.status_code == 200
    sheet = openpyxl.load_workbook(io.BytesIO(answer.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("period", "party", "store code")
    body = [(r[1], r[2], float(r[7])) for r in rows[1:]]
    assert ("store", "S2", 43.21) in body
    assert ("guide", "S1", 12.0) in body and ("store", "S1", 20.0) in body
    assert len(body) == 5


def test_store_owner_reads_its_own_statements_but_may_not_approve(client, login, month):
    login("store1@demo.test")
    text = client.get(f"/commission/statements?period={PERIOD}").get_data(as_text=True)
    assert "¥20.00" in text and "¥43.21" not in text
    assert client.get(f"/commission/statements/{month['s1'].id}").status_code == 200
    assert client.post(f"/commission/statements/{month['s1'].id}/approve").status_code == 403
    assert status_of(month["s1"]) == "draft"
    assert client.get(f"/commission/statements/{month['s2'].id}").status_code == 404
    assert client.post(f"/commission/statements/{month['s2'].id}/approve").status_code == 404


def test_a_guide_sees_only_their_own_statement(client, login, month):
    login("staff1@demo.test")
    text = client.get(f"/commission/statements?period={PERIOD}").get_data(as_text=True)
    assert "¥12.00" in text and "¥8.00" not in text
    assert client.get(f"/commission/statements/{month['staff1'].id}").status_code == 200
    assert client.get(f"/commission/statements/{month['owner1'].id}").status_code == 404
    assert client.get(f"/commission/statements/{month['s1'].id}").status_code == 404
    assert client.get(f"/commission/statements.xlsx?period={PERIOD}").status_code == 403
