"""The replenishment API as an ERP or POS uses it, on the PO shop (tests/support/shop.py): runs on
demand, the suggestions they leave, and sell-out reports that count as velocity."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from portal.auth.services import issue_session_token
from portal.core.access import Role
from portal.core.db import utcnow
from portal.extensions import db
from portal.inventory.models import StockMove
from portal.network.models import Membership, User
from portal.replenishment import services
from portal.replenishment.jobs import business_today
from portal.replenishment.models import SalesReport, Suggestion
from portal.replenishment.services import RuleInput
from tests.support.shop import Shop

SUGGESTIONS = "/api/v1/replenishment/suggestions"
RUNS = "/api/v1/replenishment/runs"
SALES = "/api/v1/sales"


@pytest.fixture
def bearer(shop: Shop):
    """bearer("S1") -> headers of a signed-in member of PO's S1 (HQ: "HQ"), with the org's
    usual admin role unless one is named."""
    made: dict[tuple[str, Role], dict[str, str]] = {}

    def make(short: str, role: Role | None = None) -> dict[str, str]:
        if role is None:
            role = {"HQ": Role.HQ_ADMIN, "S1": Role.STORE_OWNER}.get(short, Role.DISTRIBUTOR_ADMIN)
        if (short, role) in made:
            return made[short, role]
        org = shop.org(short)
        user = User(email=f"{short.lower()}-{role}@po.test", name=f"{short} {role}")
        user.set_password("x" * 12)
        db.session.add(user)
        db.session.flush()
        membership = Membership(org_id=org.id, user_id=user.id, role=role)
        db.session.add(membership)
        db.session.flush()
        token, _expires = issue_session_token(user, membership)
        db.session.commit()
        made[short, role] = {"Authorization": f"Bearer {token}"}
        return made[short, role]

    return make


def rule(shop: Shop, short: str, sku: str, **fields) -> None:
    services.set_location_rule(
        shop.hq, shop.locations[short], shop.net.variants[sku], RuleInput(**fields)
    )


@pytest.fixture
def rules(shop: Shop) -> Shop:
    """S1 needs 5 TEE-BLK-M (from A1, which has 20); A1 needs 10 TEE-BLK-L (from HQ)."""
    rule(shop, "S1", "TEE-BLK-M", min_qty=0, max_qty=5)
    rule(shop, "A1", "TEE-BLK-L", min_qty=2, max_qty=10)
    db.session.commit()
    return shop


def suggestion_count(shop: Shop) -> int:
    return db.session.execute(
        select(func.count(Suggestion.id)).where(Suggestion.brand_id == shop.net.brand.id)
    ).scalar_one()


def move_count(shop: Shop, short: str) -> int:
    return db.session.execute(
        select(func.count(StockMove.id)).where(StockMove.location_id == shop.locations[short].id)
    ).scalar_one()


def report_count(shop: Shop) -> int:
    return db.session.execute(
        select(func.count(SalesReport.id)).where(SalesReport.org_id == shop.org("S1").id)
    ).scalar_one()


def run(client, headers, **body):
    return client.post(RUNS, json=body, headers=headers)


# -- runs ----------------------------------------------------------------------------------------


def test_hq_run_of_the_brand_leaves_suggestions_visible_in_the_list(client, rules, bearer):
    hq = bearer("HQ")
    response = run(client, hq, scope="brand")
    assert response.status_code == 202, response.get_json()
    body = response.get_json()
    today = business_today().isoformat()
    brand_id = rules.net.brand.id
    assert body["job_id"] == f"replenishment:{brand_id}:brand:-:{today}"
    assert body["status"] == "queued"  # answered before the request commits and the run starts
    job = client.get(body["url"], headers=hq).get_json()
    assert job["result"]["suggestions"] == 2 and job["progress"] == 100

    listed = client.get(SUGGESTIONS, headers=hq).get_json()
    assert listed["total"] == 2 and (listed["page"], listed["per_page"]) == (1, 50)
    by_buyer = {item["buyer"]: item for item in listed["items"]}
    store = by_buyer["POS1"]
    assert store["location"] == rules.locations["S1"].code
    assert (store["supplier"], store["business_date"], store["status"]) == ("POA1", today, "open")
    assert (store["order"], store["problem"], store["auto_submit"]) == (None, "", False)
    [line] = store["lines"]
    assert (line["sku"], line["qty"], line["suggested_qty"]) == ("TEE-BLK-M", 5, 5)
    assert line["unit_price_cents"] == 9950 and store["total_cents"] == 5 * 9950
    assert (line["reason"]["rule"], line["reason"]["max"], line["reason"]["on_hand"]) == (
        "min_max",
        5,
        0,
    )
    assert by_buyer["POA1"]["supplier"] == "PO"
    assert by_buyer["POA1"]["lines"][0]["qty"] == 10


def test_the_same_run_asked_again_is_the_same_run_and_writes_nothing(client, rules, bearer):
    hq = bearer("HQ")
    first = run(client, hq, scope="brand").get_json()
    again = run(client, hq, scope="brand", code="ignored for a brand run")
    assert again.status_code == 202
    assert again.get_json()["job_id"] == first["job_id"]
    # Another scope on the same day finds today's suggestion already there.
    other = run(client, hq, scope="location", code="POS1").get_json()
    result = client.get(other["url"], headers=hq).get_json()["result"]
    assert (result["suggestions"], result["already_there"]) == (0, 1)
    assert suggestion_count(rules) == 2


def test_a_location_is_run_by_its_org_code_or_its_location_code(client, rules, bearer):
    hq = bearer("HQ")
    by_location = run(client, hq, scope="location", code=rules.locations["S1"].code).get_json()
    assert by_location["job_id"].endswith(":location:POS1:" + business_today().isoformat())
    by_org = run(client, hq, scope="location", code="pos1").get_json()
    assert by_org["job_id"] == by_location["job_id"]
    assert suggestion_count(rules) == 1


def test_hq_runs_a_region_of_its_network(client, rules, bearer):
    hq = bearer("HQ")
    response = run(client, hq, scope="region", code="north")
    assert response.status_code == 202
    assert suggestion_count(rules) == 2  # A1 and S1 are north
    missing = run(client, hq, scope="region", code="atlantis")
    assert missing.status_code == 404


def test_a_store_runs_its_own_location_for_a_brand_it_buys(client, rules, bearer):
    store = bearer("S1")
    response = run(client, store, scope="location", code="POS1", brand="PO")
    assert response.status_code == 202, response.get_json()
    listed = client.get(SUGGESTIONS, headers=store).get_json()
    assert [item["buyer"] for item in listed["items"]] == ["POS1"]


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"scope": "brand", "brand": "PO"}, 403, None),
        ({"scope": "region", "code": "north", "brand": "PO"}, 403, None),
        ({"scope": "location", "code": "POA2", "brand": "PO"}, 404, None),  # not its own
        ({"scope": "location", "code": "D1-WH", "brand": "PO"}, 404, None),  # demo network
        ({"scope": "location", "code": "POS1", "brand": "ACME"}, 404, None),  # does not buy it
        ({"scope": "location", "code": "POS1"}, 422, "brand"),
        ({"scope": "location", "brand": "PO"}, 422, "code"),
        ({"scope": "everything", "brand": "PO"}, 422, "scope"),
    ],
)
def test_a_store_cannot_run_what_is_not_its_own(client, rules, bearer, body, status, field):
    response = client.post(RUNS, json=body, headers=bearer("S1"))
    assert response.status_code == status, response.get_json()
    if field:
        assert field in response.get_json()["error"]["fields"]
    assert suggestion_count(rules) == 0


def test_a_distributor_sees_but_may_not_run_its_stores_location(client, rules, bearer):
    response = run(client, bearer("A1"), scope="location", code="POS1", brand="PO")
    assert response.status_code == 403
    assert suggestion_count(rules) == 0


def test_staff_without_the_permission_may_not_run(client, rules, bearer):
    staff = bearer("S1", Role.STORE_STAFF)
    assert run(client, staff, scope="location", code="POS1", brand="PO").status_code == 403


# -- suggestions ---------------------------------------------------------------------------------


@pytest.fixture
def suggested(client, rules, bearer) -> Shop:
    assert run(client, bearer("HQ"), scope="brand").status_code == 202
    return rules


def test_a_distributor_sees_its_stores_suggestions_and_not_its_peers(client, suggested, bearer):
    a1 = client.get(SUGGESTIONS, headers=bearer("A1")).get_json()
    assert sorted(item["buyer"] for item in a1["items"]) == ["POA1", "POS1"]
    a2 = client.get(SUGGESTIONS, headers=bearer("A2")).get_json()
    assert a2["items"] == [] and a2["total"] == 0


def test_suggestions_of_a_location_filtered_by_status_and_date(client, suggested, bearer):
    hq = bearer("HQ")
    shelf = suggested.locations["S1"].code
    today = business_today()
    one = client.get(f"{SUGGESTIONS}?location={shelf.lower()}", headers=hq).get_json()
    assert [item["location"] for item in one["items"]] == [shelf]
    assert client.get(f"{SUGGESTIONS}?status=open", headers=hq).get_json()["total"] == 2
    assert client.get(f"{SUGGESTIONS}?status=submitted", headers=hq).get_json()["total"] == 0
    assert client.get(f"{SUGGESTIONS}?date={today}", headers=hq).get_json()["total"] == 2
    yesterday = today - timedelta(days=1)
    assert client.get(f"{SUGGESTIONS}?date={yesterday}", headers=hq).get_json()["total"] == 0
    paged = client.get(f"{SUGGESTIONS}?per_page=1&page=2", headers=hq).get_json()
    assert (len(paged["items"]), paged["total"], paged["page"]) == (1, 2, 2)


def test_a_submitted_suggestion_shows_its_order_number(client, suggested, bearer):
    suggestion = db.session.execute(
        select(Suggestion).where(Suggestion.buyer_org_id == suggested.org("S1").id)
    ).scalar_one()
    order = services.submit_suggestion(suggested.buyer("S1"), suggestion)
    db.session.commit()
    body = client.get(f"{SUGGESTIONS}?status=submitted", headers=bearer("S1")).get_json()
    [item] = body["items"]
    assert (item["status"], item["order"]) == ("submitted", order.number)


@pytest.mark.parametrize(
    ("query", "status", "field"),
    [
        ("location=POA2-WH", 404, None),  # a peer distributor's warehouse
        ("location=D1-WH", 404, None),  # another brand's network
        ("location=NOPE", 404, None),
        ("status=shipped", 422, "status"),
        ("date=yesterday", 422, "date"),
        ("per_page=500", 422, "per_page"),
    ],
)
def test_suggestions_outside_the_callers_scope_or_badly_asked(
    client, suggested, bearer, query, status, field
):
    response = client.get(f"{SUGGESTIONS}?{query}", headers=bearer("S1"))
    assert response.status_code == status
    error = response.get_json()["error"]
    if field:
        assert field in error["fields"]
    else:
        assert error["code"] == "not_found"


# -- sell-out reports ----------------------------------------------------------------------------


@pytest.fixture
def stocked(shop: Shop) -> Shop:
    shop.receive("S1", "TEE-BLK-M", 10)
    shop.receive("S1", "TEE-BLK-L", 4)
    db.session.commit()
    return shop


def report(**overrides) -> dict:
    body = {
        "id": "POS-2024-0001",
        "location": "POS1-SHELF",
        "sold_at": (utcnow() - timedelta(hours=2)).replace(microsecond=0).isoformat(),
        "lines": [{"sku": "TEE-BLK-M", "qty": 3}, {"sku": "tee-blk-l", "qty": 1}],
    }
    return {**body, **overrides}


def test_a_sales_report_takes_its_units_off_the_shelf(client, stocked, bearer):
    body = report()
    response = client.post(SALES, json=body, headers=bearer("S1"))
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    assert created == {
        "id": "POS-2024-0001",
        "location": "POS1-SHELF",
        "sold_at": body["sold_at"],
        "units": 4,
        "lines": [{"sku": "TEE-BLK-M", "qty": 3}, {"sku": "TEE-BLK-L", "qty": 1}],
        "replayed": False,
    }
    assert stocked.level("S1", "TEE-BLK-M") == (7, 0)
    assert stocked.level("S1", "TEE-BLK-L") == (3, 0)


def test_a_replayed_report_changes_nothing(client, stocked, bearer):
    store = bearer("S1")
    body = report()
    first = client.post(SALES, json=body, headers=store).get_json()
    moves = move_count(stocked, "S1")
    again = client.post(SALES, json=body, headers=store)
    assert again.status_code == 200
    assert again.get_json() == {**first, "replayed": True}
    # The same instant written with another UTC offset is the same report.
    beijing = timezone(timedelta(hours=8))
    shifted = datetime.fromisoformat(body["sold_at"]).astimezone(beijing).isoformat()
    assert client.post(SALES, json={**body, "sold_at": shifted}, headers=store).status_code == 200
    assert move_count(stocked, "S1") == moves
    assert stocked.level("S1", "TEE-BLK-M") == (7, 0)


def test_the_same_report_id_with_other_content_is_a_conflict(client, stocked, bearer):
    store = bearer("S1")
    client.post(SALES, json=report(), headers=store)
    moves = move_count(stocked, "S1")
    response = client.post(
        SALES, json=report(lines=[{"sku": "TEE-BLK-M", "qty": 4}]), headers=store
    )
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "duplicate_report"
    assert move_count(stocked, "S1") == moves
    assert stocked.level("S1", "TEE-BLK-M") == (7, 0)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"lines": [{"sku": "TEE-BLK-M", "qty": 1}, {"sku": "NO-SUCH", "qty": 1}]}, "lines.1.sku"),
        ({"lines": [{"sku": "TEE-BLK-M", "qty": 0}]}, "lines.0.qty"),
        ({"lines": [{"sku": "TEE-BLK-M", "qty": "2"}]}, "lines.0.qty"),
        ({"lines": []}, "lines"),
        ({"sold_at": "2024-05-01T10:00:00"}, "sold_at"),  # no UTC offset
        ({"sold_at": (utcnow() + timedelta(days=1)).isoformat()}, "sold_at"),
        ({"id": ""}, "id"),
    ],
)
def test_a_bad_sales_report_is_refused_whole(client, stocked, bearer, overrides, field):
    moves = move_count(stocked, "S1")
    response = client.post(SALES, json=report(**overrides), headers=bearer("S1"))
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]
    assert move_count(stocked, "S1") == moves
    assert report_count(stocked) == 0


def test_selling_more_than_the_shelf_holds_is_refused_naming_the_line(client, stocked, bearer):
    moves = move_count(stocked, "S1")
    body = report(lines=[{"sku": "TEE-BLK-M", "qty": 11}])
    response = client.post(SALES, json=body, headers=bearer("S1"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert (error["code"], error["available"]) == ("insufficient_stock", 10)
    assert "lines.0" in error["fields"]
    assert move_count(stocked, "S1") == moves
    assert report_count(stocked) == 0


def test_the_short_line_is_named_by_its_index_in_the_report(client, stocked, bearer):
    # TEE-BLK-L was created after TEE-BLK-M (a higher id) but comes first here.
    body = report(lines=[{"sku": "TEE-BLK-L", "qty": 9}, {"sku": "TEE-BLK-M", "qty": 1}])
    response = client.post(SALES, json=body, headers=bearer("S1"))
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == ["lines.0"]


@pytest.mark.parametrize(
    ("short", "location", "status"),
    [
        ("S1", "POA1-WH", 404),  # its supplier's warehouse: not visible to a store
        ("S1", "D1-WH", 404),  # another brand's network
        ("A1", "POS1-SHELF", 403),  # a store below the distributor: read-only to it
    ],
)
def test_sales_only_for_ones_own_location(client, stocked, bearer, short, location, status):
    moves = move_count(stocked, "S1")
    response = client.post(SALES, json=report(location=location), headers=bearer(short))
    assert response.status_code == status
    assert move_count(stocked, "S1") == moves


def test_reported_sales_count_as_velocity_in_the_next_run(client, stocked, bearer):
    rule(stocked, "S1", "TEE-BLK-M", cover_days=10, lead_days=4, safety_qty=0, max_qty=None)
    db.session.commit()
    store = bearer("S1")
    sold = report(lines=[{"sku": "TEE-BLK-M", "qty": 10}])
    assert client.post(SALES, json=sold, headers=store).status_code == 201
    assert run(client, store, scope="location", code="POS1", brand="PO").status_code == 202
    [item] = client.get(SUGGESTIONS, headers=store).get_json()["items"]
    [line] = item["lines"]
    assert line["reason"]["velocity"] == round(10 / 28, 2)
    assert line["reason"]["on_hand"] == 0 and line["qty"] == 5  # 10/28 × 14 days, rounded up


def test_the_replenishment_api_is_in_the_openapi_document(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    assert {"get"} <= set(paths[SUGGESTIONS]) and {"post"} <= set(paths[RUNS])
    assert paths[SALES]["post"]["responses"].keys() >= {"201"}
