"""The guides' pages (portal/guides/guide_views.py): a guide's code, links, QR codes and
posters, sales, customers and leaderboard; the store owner's and HQ's reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import select

from portal.core.access import Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.guides import links, reports
from portal.guides.models import (
    Attribution,
    CommissionEntry,
    CommissionKind,
    CommissionStatement,
    Guide,
    GuideStatus,
    StatementParty,
    StatementStatus,
)
from portal.storefront import store_shops
from portal.storefront.models import ConsumerOrder
from portal.storefront.store_shops import ShopSettings
from tests.guides.conftest import TEE, TEE_COMMISSION, GuideShop

PASSWORD = "x" * 12


def sign_in(client, gs: GuideShop, short: str):
    user = gs.users[short]
    response = client.post("/login", data={"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    with client.session_transaction() as cookie:
        cookie["lang"] = "en"
    return client


def text(response) -> str:
    return response.get_data(as_text=True)


def paid(order: ConsumerOrder) -> ConsumerOrder:
    order.paid_at = utcnow()
    db.session.flush()
    return order


def entry(guide: Guide, kind: str, cents: int, ref: str, *, matures_in_days: float) -> None:
    db.session.add(
        CommissionEntry(
            brand_id=guide.brand_id,
            guide_id=guide.id,
            org_id=guide.org_id,
            kind=kind,
            amount_cents=cents,
            reference=ref,
            matures_at=utcnow() + timedelta(days=matures_in_days),
        )
    )
    db.session.flush()


def test_a_guide_sees_their_code_and_a_product_link_that_opens_the_product(client, gs):
    guide = gs.guides["JA"]
    page = text(sign_in(client, gs, "JA").get("/guides/me?q=TEE"))
    assert guide.code in page
    assert "/shop/GD/g/" in page  # the brand's home, and the product found
    product = gs.shop.net.variants["TEE-BLK-M"].product
    start = page.index(f'data-testid="share-product-{product.code}"')
    url = page[page.index('value="', start) + 7 : page.index('"', page.index('value="', start) + 7)]
    claim = links.read_token(urlsplit(url).path.rsplit("/", 1)[1])
    assert claim is not None
    assert (claim.guide_code, claim.target, claim.ref) == (guide.code, "product", product.code)
    opened = client.get(urlsplit(url).path)
    if opened.status_code != 404:  # the /g/ route (guides-core) may not be registered here
        assert opened.status_code in (302, 303)
        assert f"/shop/GD/p/{product.code}" in opened.headers["Location"]


def test_qr_codes_and_posters_download(client, gs):
    client = sign_in(client, gs, "JA")
    png = client.get("/guides/me/qr.png")
    assert png.status_code == 200 and png.mimetype == "image/png"
    assert png.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/guides/me/qr.svg?target=shop&ref=GDJA").status_code == 404  # shop off
    store_shops.save_settings(
        gs.shop.staff("JA", Role.STORE_OWNER),
        gs.brand,
        gs.shop.net.links["JA"].buyer,
        ShopSettings(enabled=True, address="1 Nanjing West Road", latitude=31.22, longitude=121.44),
    )
    db.session.commit()
    svg = client.get("/guides/me/qr.svg?target=shop&ref=GDJA")
    assert svg.mimetype == "image/svg+xml" and b"<svg" in svg.data
    code = gs.shop.net.variants["TEE-BLK-M"].product.code
    poster = client.get(f"/guides/me/poster.svg?target=product&ref={code}")
    assert poster.status_code == 200 and gs.guides["JA"].code in text(poster)
    png_poster = client.get(f"/guides/me/poster.png?target=product&ref={code}")
    assert png_poster.status_code == 200 and png_poster.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert client.get("/guides/me/qr.png?target=product&ref=NOPE").status_code == 404
    assert client.get("/guides/me/qr.png?target=shop&ref=GDXX9").status_code == 404
    assert client.get("/guides/me/qr.png?target=bogus").status_code == 404


def test_sales_page_shows_the_months_sales_by_rule_and_the_ledger(client, gs):
    guide = gs.guides["JA"]
    buyer, visitor = gs.consumer(), gs.consumer()
    by_code = paid(gs.place(buyer, guide_code=guide.code))
    gs.visit(guide, consumer=visitor)
    by_link = paid(gs.place(visitor))
    gs.place(buyer, guide_code=guide.code)  # never paid: not a sale
    rules = {a.rule for a in db.session.execute(select(Attribution)).scalars()}
    assert {"code", "link"} <= rules
    entry(guide, CommissionKind.EARN, TEE_COMMISSION, f"O{by_code.id}", matures_in_days=7)
    entry(guide, CommissionKind.EARN, 300, "M1", matures_in_days=-1)
    entry(guide, CommissionKind.REVERSE, -100, "O1-r", matures_in_days=-1)
    db.session.commit()

    page = text(sign_in(client, gs, "JA").get("/guides/me/sales"))
    assert "¥398.00" in page  # two paid tees
    assert page.count('data-testid="sale"') == 2
    assert by_code.number in page and by_link.number in page
    assert "¥7.97" in page  # written this month: 5.97 + 3.00 - 1.00
    assert "¥5.97" in page  # pending
    assert "¥2.00" in page  # available
    month = reports.guide_month(guide, reports.period(None))
    by_rule = {line.rule: (line.orders, line.amount_cents) for line in month.rules}
    assert by_rule["code"] == (1, TEE) and by_rule["link"] == (1, TEE)


def test_customers_are_masked_with_their_totals(client, gs):
    guide = gs.guides["JA"]
    buyer = gs.consumer(name="Han Meimei")
    paid(gs.place(buyer, guide_code=guide.code))
    db.session.commit()
    page = text(sign_in(client, gs, "JA").get("/guides/me/customers"))
    assert "Han Meimei" not in page and "<strong>H********</strong>" in page
    assert buyer.phone not in page and buyer.phone[-4:] in page
    assert "¥199.00" in page


def test_leaderboard_ranks_the_store_by_sales(client, gs):
    first = gs.guides["JA"]
    second = gs.add_guide("JA")
    paid(gs.place(gs.consumer(), guide_code=second.code, qty=2))
    paid(gs.place(gs.consumer(), guide_code=first.code))
    db.session.commit()
    gs.users["JA"] = db.session.execute(
        select(type(gs.users["JA"])).where(type(gs.users["JA"]).id == second.user_id)
    ).scalar_one()
    page = text(sign_in(client, gs, "JA").get("/guides/leaderboard"))
    store = page[page.index('data-testid="store-board"') :]
    assert store.index("¥398.00") < store.index("¥199.00")
    assert 'aria-current="true"' in store[: store.index("¥199.00")]  # I am first
    lines = reports.store_board(first, reports.period(None))
    assert [line.guide_id for line in lines] == [second.id, first.id]
    region, board = reports.region_board(first, reports.period(None))
    if region:  # the test shop's stores share a region: the LJ guide is on it too
        assert gs.guides["LJ"].id in {line.guide_id for line in board}


def test_store_owner_sees_only_their_stores_guides_and_may_stop_one(client, gs):
    owner = gs.person("JA", Role.STORE_OWNER)
    gs.users["JA-owner"] = owner
    paid(gs.place(gs.consumer(), guide_code=gs.guides["JA"].code))
    db.session.commit()
    client = sign_in(client, gs, "JA-owner")
    page = text(client.get("/guides/store"))
    assert gs.guides["JA"].code in page and gs.guides["LJ"].code not in page
    assert "¥199.00" in page
    other = gs.guides["LJ"]
    assert client.get(f"/guides/guide/{other.id}").status_code == 404
    assert client.post(f"/guides/store/{other.id}/stop").status_code == 404
    assert client.get(f"/guides/guide/{gs.guides['JA'].id}").status_code == 200
    done = client.post(f"/guides/store/{gs.guides['JA'].id}/stop")
    assert done.status_code == 302
    db.session.expire_all()
    assert gs.guides["JA"].status == GuideStatus.STOPPED
    assert gs.guides["LJ"].status == GuideStatus.ACTIVE


def test_store_staff_may_not_manage_guides(client, gs):
    client = sign_in(client, gs, "JA")
    assert client.get("/guides/store").status_code == 403
    assert client.post(f"/guides/store/{gs.guides['JA'].id}/stop").status_code == 403
    assert client.get(f"/guides/guide/{gs.guides['LJ'].id}").status_code == 404


def test_hq_report_sums_per_rule_store_and_commission(client, gs):
    ja, lj = gs.guides["JA"], gs.guides["LJ"]
    paid(gs.place(gs.consumer(), guide_code=ja.code))
    paid(gs.place(gs.consumer(), guide_code=lj.code, qty=2))
    visitor = gs.consumer()
    gs.visit(lj, consumer=visitor)
    paid(gs.place(visitor))
    entry(ja, CommissionKind.EARN, 500, "due-1", matures_in_days=-2)
    entry(lj, CommissionKind.EARN, 800, "pending-1", matures_in_days=5)
    span = reports.period(None)
    db.session.add(
        CommissionStatement(
            brand_id=gs.brand.id,
            period=span.label,
            party=StatementParty.GUIDE,
            org_id=lj.org_id,
            guide_id=lj.id,
            amount_cents=1234,
            entries=1,
            status=StatementStatus.PAID,
        )
    )
    db.session.commit()
    gs.users["HQ-admin"] = gs.person("HQ", Role.HQ_ADMIN)
    client = sign_in(client, gs, "HQ-admin")
    page = text(client.get("/guides/hq"))
    report = reports.hq_report(gs.brand.id, span)
    by_rule = {line.rule: (line.orders, line.amount_cents) for line in report.rules}
    assert by_rule["code"] == (2, 3 * TEE) and by_rule["link"] == (1, TEE)
    assert report.amount_cents == 4 * TEE and "¥796.00" in page
    stores = {s.code: s.amount_cents for s in report.stores}
    assert stores["GDJA"] == TEE and stores["GDLJ"] == 3 * TEE
    assert (report.due_cents, report.pending_cents, report.paid_cents) == (500, 800, 1234)
    assert "¥12.34" in page and "¥5.00" in page and "¥8.00" in page
    rows = list(csv.DictReader(io.StringIO(text(client.get("/guides/hq/guides.csv")))))
    by_code = {row["guide_code"]: row for row in rows}
    assert by_code[lj.code]["sales_cents"] == str(3 * TEE)
    assert by_code[lj.code]["paid_cents"] == "1234"
    assert client.get(f"/guides/guide/{ja.id}").status_code == 200


def test_another_brands_hq_and_a_store_see_no_hq_report(client, gs, login):
    assert login("hq2@demo.test").get(f"/guides/guide/{gs.guides['JA'].id}").status_code == 404
    assert login("store1@demo.test").get("/guides/hq").status_code == 404
