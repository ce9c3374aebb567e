"""Stock pages: each org sees its own stock and, read-only, the stock below it (only of the brands
in which it is above); the org holding a location adjusts, counts and marks damage there."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.catalog.models import Variant
from portal.extensions import db
from portal.inventory.models import Grade, Location, MoveReason, StockLevel, StockMove
from portal.inventory.services import MoveLine, apply_moves
from tests.support.services import org


def _location(code: str) -> Location:
    return db.session.execute(select(Location).where(Location.code == code)).scalar_one()


def _levels(code: str, brand: str) -> list[StockLevel]:
    return list(
        db.session.execute(
            select(StockLevel)
            .join(Variant, Variant.id == StockLevel.variant_id)
            .where(
                StockLevel.location_id == _location(code).id,
                StockLevel.brand_id == org(brand).id,
                StockLevel.grade == Grade.A,
            )
            .order_by(Variant.sku)
        ).scalars()
    )


def _level(code: str, sku: str, grade: str = Grade.A) -> tuple[int, int] | None:
    row = db.session.execute(
        select(StockLevel.on_hand, StockLevel.reserved)
        .join(Variant, Variant.id == StockLevel.variant_id)
        .where(
            StockLevel.location_id == _location(code).id,
            Variant.sku == sku,
            StockLevel.grade == grade,
        )
        .execution_options(populate_existing=True)
    ).one_or_none()
    return None if row is None else (row[0], row[1])


def _moves(code: str, sku: str) -> list[StockMove]:
    return list(
        db.session.execute(
            select(StockMove)
            .join(Variant, Variant.id == StockMove.variant_id)
            .where(StockMove.location_id == _location(code).id, Variant.sku == sku)
            .order_by(StockMove.id)
        ).scalars()
    )


def _table(response, testid: str) -> str:
    html = response.get_data(as_text=True)
    start = html.index(f'data-testid="{testid}"')
    return html[start : html.index("</table>", start)]


def _stocked_sku(code: str, brand: str = "ACME") -> str:
    """The first SKU in stock there that no (demo) order holds."""
    return next(level for level in _levels(code, brand) if level.reserved == 0).variant.sku


def test_the_stock_list_shows_the_actors_locations_own_first_with_totals(app, login):
    page = login("dist1@demo.test").get("/stock")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.index('data-location="D1-WH"') < html.index('data-location="S1-SHELF"')
    assert 'data-location="L1-SHELF"' in html  # D1's LUMI store
    assert 'data-location="S2-SHELF"' not in html  # D2's store
    assert 'data-location="ACME-WH"' not in html
    searched = login("dist1@demo.test").get("/stock?q=S3").get_data(as_text=True)
    assert 'data-location="S3-SHELF"' in searched
    assert 'data-location="D1-WH"' not in searched


def test_hq_sees_a_distributors_stock_read_only_and_only_its_own_brand(app, login):
    acme_sku = _stocked_sku("D1-WH", "ACME")
    lumi_sku = _stocked_sku("D1-WH", "LUMI")
    page = login("hq@demo.test").get("/stock/D1-WH?per_page=200")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'data-testid="read-only"' in html
    assert 'data-testid="adjust-form"' not in html
    assert acme_sku in _table(page, "levels")
    assert "LUMI-" not in _table(page, "levels")
    searched = login("hq@demo.test").get(f"/stock/D1-WH?q={lumi_sku}")
    assert lumi_sku not in _table(searched, "levels")
    own = login("dist1@demo.test").get(f"/stock/D1-WH?q={lumi_sku}")
    assert lumi_sku in _table(own, "levels")
    assert 'data-testid="adjust-form"' in own.get_data(as_text=True)
    assert 'data-testid="read-only"' not in own.get_data(as_text=True)


def test_a_distributor_sees_its_stores_stock_read_only_but_not_another_distributors(app, login):
    client = login("dist1@demo.test")
    s1 = client.get("/stock/S1-SHELF")
    assert s1.status_code == 200
    assert 'data-testid="adjust-form"' not in s1.get_data(as_text=True)
    assert client.get("/stock/S2-SHELF").status_code == 404
    assert client.get("/stock/S2-SHELF/moves").status_code == 404


def test_level_filters_narrow_the_page(app, login):
    client = login("hq@demo.test")
    b_only = _table(client.get("/stock/ACME-WH?grade=B&per_page=200"), "levels")
    b_skus = {
        level.variant.sku
        for level in db.session.execute(
            select(StockLevel).where(
                StockLevel.location_id == _location("ACME-WH").id, StockLevel.grade == Grade.B
            )
        ).scalars()
    }
    assert b_skus and all(sku in b_only for sku in b_skus)
    a_only = next(
        lv.variant.sku for lv in _levels("ACME-WH", "ACME") if lv.variant.sku not in b_skus
    )
    assert a_only not in b_only
    paged = client.get("/stock/ACME-WH?per_page=10&page=2")
    assert paged.status_code == 200
    assert "Page 2 of" in paged.get_data(as_text=True)


def test_a_store_owner_adjusts_its_own_shelf_and_the_ledger_records_it(app, login):
    sku = _stocked_sku("S1-SHELF")
    on_hand, reserved = _level("S1-SHELF", sku)
    client = login("store1@demo.test")
    assert 'data-testid="adjust-form"' in client.get("/stock/S1-SHELF").get_data(as_text=True)
    response = client.post(
        "/stock/S1-SHELF/adjust",
        data={
            "adjust-sku": sku.lower(),
            "adjust-delta": "5",
            "adjust-reason": "found",
            "adjust-grade": "A",
            "adjust-note": "Behind the counter",
        },
    )
    assert response.status_code == 302
    assert _level("S1-SHELF", sku) == (on_hand + 5, reserved)
    move = _moves("S1-SHELF", sku)[-1]
    assert (move.on_hand_delta, move.reason, move.note) == (
        5,
        MoveReason.FOUND,
        "Behind the counter",
    )
    ledger = _table(client.get(f"/stock/S1-SHELF/moves?sku={sku}"), "moves")
    assert "Behind the counter" in ledger
    assert "+5" in ledger
    assert "Sun Hao" in ledger  # who


def test_an_adjustment_without_a_note_is_refused_on_the_note_field(app, login):
    sku = _stocked_sku("S1-SHELF")
    before = _level("S1-SHELF", sku)
    response = login("store1@demo.test").post(
        "/stock/S1-SHELF/adjust",
        data={"adjust-sku": sku, "adjust-delta": "3", "adjust-reason": "adjustment"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="adjust-note-error"' in html
    assert _level("S1-SHELF", sku) == before


def test_an_unknown_or_uncarried_sku_is_refused_on_the_sku_field(app, login):
    lumi_sku = _stocked_sku("LUMI-WH", "LUMI")  # S1 carries ACME only
    client = login("store1@demo.test")
    for sku in ("NOPE-123", lumi_sku):
        response = client.post(
            "/stock/S1-SHELF/adjust",
            data={"adjust-sku": sku, "adjust-delta": "3", "adjust-note": "x"},
        )
        assert response.status_code == 422
        assert 'id="adjust-sku-error"' in response.get_data(as_text=True)
    assert _level("S1-SHELF", lumi_sku) is None


def test_taking_away_more_than_is_free_is_insufficient_stock(app, login, system):
    sku = _stocked_sku("S1-SHELF")
    on_hand, _reserved = _level("S1-SHELF", sku)
    variant = db.session.execute(select(Variant).where(Variant.sku == sku)).scalar_one()
    apply_moves(  # an order holds one unit
        system,
        [MoveLine(_location("S1-SHELF").id, variant.id, reserved_delta=1)],
        reason=MoveReason.RESERVE,
    )
    db.session.commit()
    client = login("store1@demo.test")
    response = client.post(
        "/stock/S1-SHELF/adjust",
        data={"adjust-sku": sku, "adjust-delta": str(-on_hand), "adjust-note": "Shrinkage"},
    )
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="adjust-delta-error"' in html
    assert f"Only {on_hand - 1} available." in html
    assert _level("S1-SHELF", sku) == (on_hand, 1)


def test_store_staff_may_look_but_not_adjust(app, login):
    sku = _stocked_sku("S1-SHELF")
    client = login("staff1@demo.test")
    page = client.get("/stock/S1-SHELF").get_data(as_text=True)
    assert 'data-testid="adjust-form"' not in page
    assert 'data-testid="read-only"' in page
    response = client.post(
        "/stock/S1-SHELF/adjust",
        data={"adjust-sku": sku, "adjust-delta": "1", "adjust-note": "Try"},
    )
    assert response.status_code == 403


def test_hq_cannot_adjust_stock_below_it(app, login):
    sku = _stocked_sku("D1-WH")
    before = _level("D1-WH", sku)
    response = login("hq@demo.test").post(
        "/stock/D1-WH/adjust",
        data={"adjust-sku": sku, "adjust-delta": "1", "adjust-note": "Not mine"},
    )
    assert response.status_code == 403
    assert _level("D1-WH", sku) == before


def test_a_count_sets_the_level_and_damage_moves_units_to_grade_b(app, login):
    sku = _stocked_sku("D1-WH")
    on_hand, reserved = _level("D1-WH", sku)
    client = login("dist1@demo.test")
    counted = client.post(
        "/stock/D1-WH/count",
        data={"count-sku": sku, "count-counted": "7", "count-grade": "A", "count-note": "Cycle"},
    )
    assert counted.status_code == 302
    assert _level("D1-WH", sku) == (7, reserved)
    assert _moves("D1-WH", sku)[-1].on_hand_delta == 7 - on_hand
    damaged = client.post(
        "/stock/D1-WH/damage",
        data={"damage-sku": sku, "damage-qty": "2", "damage-note": "Torn seam"},
    )
    assert damaged.status_code == 302
    assert _level("D1-WH", sku) == (5, reserved)
    assert _level("D1-WH", sku, Grade.B) == (2, 0)
    too_many = client.post(
        "/stock/D1-WH/damage",
        data={"damage-sku": sku, "damage-qty": "50", "damage-note": "Flood"},
    )
    assert too_many.status_code == 422
    assert 'id="damage-qty-error"' in too_many.get_data(as_text=True)
    assert _level("D1-WH", sku, Grade.B) == (2, 0)


def test_pages_of_a_location_link_to_the_same_location(login):
    page = login("store1@demo.test").get("/stock/S1-SHELF?per_page=1").get_data(as_text=True)
    assert 'href="/stock/S1-SHELF?per_page=1&amp;page=2"' in page


@pytest.mark.parametrize("email", ["hq@demo.test", "hq2@demo.test", "dist1@demo.test"])
def test_the_stock_list_totals_match_each_locations_own_totals(app, actor_for, email):
    from portal.inventory import queries

    actor = actor_for(email)
    locations = queries.list_locations(actor, per_page=200).items
    grouped = queries.totals_for(actor, locations)
    assert grouped == {loc.id: queries.location_totals(actor, loc) for loc in locations}
    assert any(t["skus"] for t in grouped.values())
