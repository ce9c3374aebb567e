"""Replenishment pages: a buyer sees its suggested orders with the reason per line, edits and
submits them through the normal order checks or dismisses them; a distributor sees its stores'
suggestions; owners set their rules and auto-submit, HQ its defaults, runs and overview."""

from __future__ import annotations

import re
import uuid

import pytest
from sqlalchemy import func, select

from portal.core.access import Actor
from portal.core.jobs import JobRun, JobStatus
from portal.extensions import db
from portal.network import services as network
from portal.ordering.models import Order, OrderKind
from portal.replenishment import engine, queries, services
from portal.replenishment.jobs import business_today
from portal.replenishment.models import (
    ReplenishmentRule,
    Suggestion,
    SuggestionLine,
    SuggestionStatus,
)
from portal.replenishment.services import RuleInput
from tests.support.shop import Shop

PASSWORD = "replenish-pages-1"

# short org code -> (e-mail, role)
PEOPLE = {
    "HQ": ("hq@po.test", "hq_admin"),
    "HQ-merch": ("merch@po.test", "hq_merchandiser"),
    "A1": ("a1@po.test", "distributor_admin"),
    "S1": ("s1@po.test", "store_owner"),
    "A2": ("a2@po.test", "distributor_admin"),
}


@pytest.fixture
def people(shop: Shop) -> Shop:
    """Sign-in users for the shop's orgs: HQ supplies A1 and A2; A1 supplies S1."""
    system = Actor.system()
    for key, (email, role) in PEOPLE.items():
        user = network.create_user(email=email, name=f"{key} person", password=PASSWORD)
        network.add_member(system, shop.org(key.split("-")[0]), user, role)
    db.session.commit()
    return shop


@pytest.fixture
def as_(client):
    """as_("S1") signs the test client in as that org's person."""

    def sign_in(key: str):
        client.post("/logout")
        response = client.post("/login", data={"email": PEOPLE[key][0], "password": PASSWORD})
        assert response.status_code == 302, response.get_data(as_text=True)[:300]
        return client

    return sign_in


def _html(response) -> str:
    return response.get_data(as_text=True)


def _rule(shop: Shop, short: str, sku: str, **fields) -> ReplenishmentRule:
    return services.set_location_rule(
        shop.hq, shop.locations[short], shop.net.variants[sku], RuleInput(**fields)
    )


def _suggest(shop: Shop, short: str = "S1") -> Suggestion:
    """Today's suggestion for one location, as a run writes it."""
    (proposal,) = engine.propose(shop.net.brand.id, [shop.locations[short].id])
    suggestion = services.write_suggestion(
        proposal, brand_id=shop.net.brand.id, business_date=business_today(), run_id="test"
    )
    db.session.commit()
    return suggestion


@pytest.fixture
def suggested(people: Shop) -> Suggestion:
    """S1 holds 3 TEE-BLK-M under a min 4 / max 12 rule: 9 suggested, from A1 (which has 20)."""
    people.receive("S1", "TEE-BLK-M", 3)
    _rule(people, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    return _suggest(people)


def _line(suggestion: Suggestion) -> SuggestionLine:
    db.session.expire_all()
    (line,) = db.session.get(Suggestion, suggestion.id).lines
    return line


def _detail(suggestion: Suggestion, action: str = "") -> str:
    return f"/replenishment/suggestions/{suggestion.id}{'/' + action if action else ''}"


def _submit(client, suggestion: Suggestion, token: str | None = None, **quantities):
    data = {"submit_token": token or str(uuid.uuid4()), **quantities}
    return client.post(_detail(suggestion, "submit"), data=data)


def _orders(shop: Shop) -> int:
    return db.session.execute(
        select(func.count(Order.id)).where(Order.brand_id == shop.net.brand.id)
    ).scalar_one()


def _suggestions(shop: Shop) -> int:
    return db.session.execute(
        select(func.count(Suggestion.id)).where(Suggestion.brand_id == shop.net.brand.id)
    ).scalar_one()


# -- suggested orders ----------------------------------------------------------------------------


def test_the_buyer_sees_its_suggestion_with_the_reason_per_line(people, suggested, as_):
    client = as_("S1")
    listing = _html(client.get("/replenishment"))
    assert f'data-suggestion="{suggested.id}"' in listing
    assert 'data-testid="run-POX"' not in listing and 'data-testid="run-PO"' in listing

    page = _html(client.get(_detail(suggested)))
    reason = re.search(r'data-testid="reason-TEE-BLK-M">(.*?)</small>', page, re.S).group(1)
    assert "Min 4, max 12" in reason
    assert "Sells 0 a day" in reason
    assert "On hand 3, reserved 0, inbound 0: position 3" in reason
    assert "Target 12" in reason
    assert 'data-testid="below-min-TEE-BLK-M"' in page
    assert f'name="qty_{_line(suggested).id}" value="9"' in page
    assert 'data-testid="submit-suggestion"' in page


def test_a_capped_line_says_what_capped_it(people, as_):
    _rule(people, "S1", "TEE-BLK-M", min_qty=0, max_qty=30)  # A1 has 20
    suggestion = _suggest(people)
    page = _html(as_("S1").get(_detail(suggestion)))
    assert "Capped by the supplier&#39;s stock" in page
    assert f'value="{_line(suggestion).qty}"' in page and _line(suggestion).qty == 20


def test_the_distributor_sees_its_stores_suggestions_but_does_not_order_them(
    people, suggested, as_
):
    client = as_("A1")
    listing = _html(client.get("/replenishment"))
    supplied = re.search(r'data-testid="supplied">(.*?)</table>', listing, re.S).group(1)
    assert f'data-suggestion="{suggested.id}"' in supplied

    page = _html(client.get(_detail(suggested)))
    assert "Min 4, max 12" in page
    assert 'name="qty_' not in page and 'data-testid="submit-suggestion"' not in page
    assert _submit(client, suggested).status_code == 403
    assert client.post(_detail(suggested, "dismiss")).status_code == 403
    assert _line(suggested).suggestion.status == SuggestionStatus.OPEN
    assert _orders(people) == 0


def test_editing_quantities_saves_them(people, suggested, as_):
    client = as_("S1")
    line = _line(suggested)
    response = client.post(_detail(suggested, "update"), data={f"qty_{line.id}": "6"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(_detail(suggested))
    line = _line(suggested)
    assert (line.qty, line.suggested_qty) == (6, 9)
    assert line.suggestion.total_cents == 6 * line.unit_price_cents
    assert 'value="6"' in _html(client.get(_detail(suggested)))


def test_a_quantity_that_is_not_a_number_is_refused_and_nothing_changes(people, suggested, as_):
    client = as_("S1")
    line = _line(suggested)
    response = client.post(_detail(suggested, "update"), data={f"qty_{line.id}": "two"})
    assert response.status_code == 422
    assert 'aria-invalid="true"' in _html(response)
    assert _line(suggested).qty == 9


def test_submit_places_a_replenishment_order_once(people, suggested, as_):
    client = as_("S1")
    line = _line(suggested)
    token = str(uuid.uuid4())
    response = _submit(client, suggested, token, **{f"qty_{line.id}": "6"})
    assert response.status_code == 302
    number = response.headers["Location"].rsplit("/", 1)[-1]
    assert response.headers["Location"].endswith(f"/orders/{number}")
    order = db.session.execute(select(Order).where(Order.number == number)).scalar_one()
    assert order.kind == OrderKind.REPLENISHMENT
    assert [(ln.sku, ln.qty) for ln in order.lines] == [("TEE-BLK-M", 6)]
    suggestion = _line(suggested).suggestion
    assert (suggestion.status, suggestion.order_id) == (SuggestionStatus.SUBMITTED, order.id)

    # The same page sent again (a double click) finds the first order.
    again = _submit(client, suggested, token, **{f"qty_{line.id}": "6"})
    assert again.headers["Location"].endswith(f"/orders/{number}")
    assert _orders(people) == 1
    page = _html(client.get(_detail(suggested)))
    assert f'data-testid="order-link">{number}<' in page
    assert 'name="qty_' not in page  # submitted: nothing to edit any more


def test_a_refused_submit_names_the_problem_and_changes_nothing(people, suggested, as_):
    client = as_("S1")
    line = _line(suggested)
    response = _submit(client, suggested, **{f"qty_{line.id}": "21"})  # A1 has 20
    assert response.status_code == 422
    html = _html(response)
    assert "TEE-BLK-M" in html and 'class="flash flash-error"' in html
    assert 'class="problem-row"' in html and 'value="21"' in html  # kept for correcting
    line = _line(suggested)
    assert (line.qty, line.suggestion.status) == (9, SuggestionStatus.OPEN)
    assert _orders(people) == 0


def test_a_quantity_off_the_order_multiple_is_refused(people, as_):
    _rule(people, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    suggestion = _suggest(people)
    people.net.publish("PO-MULT", kind="level", values=("A",), order="sku TEE-BLK-M 3 3")
    db.session.commit()
    line = _line(suggestion)
    response = _submit(as_("S1"), suggestion, **{f"qty_{line.id}": "7"})
    assert response.status_code == 422
    assert "multiples of 3" in _html(response)
    assert (_line(suggestion).qty, _orders(people)) == (6, 0)


def test_dismissing_orders_nothing(people, suggested, as_):
    client = as_("S1")
    response = client.post(_detail(suggested, "dismiss"))
    assert response.status_code == 302 and response.headers["Location"].endswith("/replenishment")
    assert _line(suggested).suggestion.status == SuggestionStatus.DISMISSED
    recent = re.search(
        r'data-testid="recent">(.*?)</table>', _html(client.get("/replenishment")), re.S
    )
    assert f'data-suggestion="{suggested.id}"' in recent.group(1)
    # Dismissed is final: a submit afterwards is refused on the page.
    assert _submit(client, suggested).status_code == 422
    assert _orders(people) == 0


def test_another_orgs_suggestion_is_not_found(people, suggested, as_):
    client = as_("A2")
    assert client.get(_detail(suggested)).status_code == 404
    assert _submit(client, suggested).status_code == 404
    assert client.post(_detail(suggested, "update")).status_code == 404
    assert client.post(_detail(suggested, "dismiss")).status_code == 404
    assert f'data-suggestion="{suggested.id}"' not in _html(client.get("/replenishment"))


# -- compute now ---------------------------------------------------------------------------------


def test_compute_now_runs_the_location_and_shows_its_suggestion(people, as_):
    people.receive("S1", "TEE-BLK-M", 3)
    _rule(people, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    db.session.commit()
    client = as_("S1")
    response = client.post("/replenishment/run", data={"brand": "PO"})
    assert response.status_code == 302
    assert "/replenishment?job=replenishment" in response.headers["Location"]
    assert _suggestions(people) == 1  # no Redis in tests: the run happened inline
    page = _html(client.get(response.headers["Location"]))
    assert 'data-status="finished"' in page  # the progress partial, done
    (suggestion,) = queries.list_suggestions(people.buyer("S1"), own_only=True).items
    assert f'data-suggestion="{suggestion.id}"' in page
    assert [line.qty for line in suggestion.lines] == [9]

    # Asked again the same day: the same run, no second suggestion.
    again = client.post("/replenishment/run", data={"brand": "PO"}, follow_redirects=True)
    assert "computed already" in _html(again)
    assert _suggestions(people) == 1


def test_compute_now_for_a_brand_one_does_not_buy_is_not_found(people, as_):
    assert as_("S1").post("/replenishment/run", data={"brand": "ACME"}).status_code == 404


def test_hq_runs_its_brand_and_sees_the_overview(people, as_):
    people.receive("S1", "TEE-BLK-M", 3)
    _rule(people, "S1", "TEE-BLK-M", min_qty=4, max_qty=12)
    _rule(people, "A2", "POLO-WHT-M", min_qty=0, max_qty=4)
    db.session.commit()
    client = as_("HQ")
    response = client.post("/replenishment/run", data={"brand": "PO", "scope": "brand"})
    assert response.status_code == 302
    page = _html(client.get(response.headers["Location"]))
    north = re.search(r'data-testid="by-region">.*?<tr data-key="north">(.*?)</tr>', page, re.S)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", north.group(1), re.S)
    assert cells[0] == "north" and cells[1] == "1" and cells[3] == "1" and cells[4] == "9"
    assert cells[2].startswith("1")  # S1 was below its minimum
    assert cells[6:] == ["0", "1"]  # none auto-submitted, one waiting
    assert '<tr data-key="south">' in page
    by_supplier = re.search(r'data-testid="by-supplier">(.*?)</table>', page, re.S).group(1)
    assert '<tr data-key="POA1">' in by_supplier and '<tr data-key="PO">' in by_supplier
    runs = re.search(r'data-testid="runs">(.*?)</table>', page, re.S).group(1)
    assert "Whole brand" in runs and 'data-status="finished"' in runs
    assert re.search(r"<td>[\d.]+ s</td>", runs)  # its duration


def test_hq_runs_one_region_and_refuses_an_unknown_one(people, as_):
    _rule(people, "S1", "TEE-BLK-M", min_qty=0, max_qty=6)
    _rule(people, "A2", "POLO-WHT-M", min_qty=0, max_qty=4)
    db.session.commit()
    client = as_("HQ")
    refused = client.post(
        "/replenishment/run", data={"brand": "PO", "scope": "region", "region": "mars"}
    )
    assert refused.status_code == 302 and _suggestions(people) == 0
    client.post("/replenishment/run", data={"brand": "PO", "scope": "region", "region": "north"})
    suggestions = queries.list_suggestions(people.hq, brand_id=people.net.brand.id).items
    assert [s.location_id for s in suggestions] == [people.locations["S1"].id]


def test_a_failed_run_shows_its_error_and_retry_to_hq_admins_only(people, as_):
    db.session.add(
        JobRun(
            id=f"replenishment:{people.net.brand.id}:region:north:2026-01-05",
            name="portal.replenishment.jobs.run_replenishment",
            title="Replenishment: region north",
            args=[people.net.brand.id, "region", "north", "2026-01-05"],
            status=JobStatus.FAILED,
            error="OperationalError: the database went away",
            brand_id=people.net.brand.id,
        )
    )
    db.session.commit()
    admin = _html(as_("HQ").get("/replenishment"))
    assert "the database went away" in admin and 'data-testid="retry"' in admin
    merch = _html(as_("HQ-merch").get("/replenishment"))
    assert "Region north" in merch and "Failed" in merch
    assert "the database went away" not in merch and 'data-testid="retry"' not in merch


# -- rules ---------------------------------------------------------------------------------------


def _rule_form(**fields) -> dict[str, str]:
    data = {"lead_days": "0", "safety_qty": "0", "review_days": "7"}
    data.update({k: str(v) for k, v in fields.items()})
    return data


def test_an_owner_sets_a_rule_for_a_sku(people, as_):
    client = as_("S1")
    response = client.post(
        "/replenishment/rules", data=_rule_form(sku="tee-blk-l", min_qty=2, max_qty=8)
    )
    assert response.status_code == 302
    (rule,) = queries.location_rules(people.locations["S1"])
    assert (rule.variant.sku, rule.min_qty, rule.max_qty) == ("TEE-BLK-L", 2, 8)
    page = _html(client.get("/replenishment/rules"))
    assert '<tr data-sku="TEE-BLK-L">' in page and "Min 2, max 8" in page


@pytest.mark.parametrize(
    ("fields", "field", "status"),
    [
        ({"sku": "TEE-BLK-L", "min_qty": 8, "max_qty": 2}, "max_qty", 422),
        ({"sku": "TEE-BLK-L", "max_qty": 8, "lead_days": -1}, "lead_days", 422),
        ({"sku": "TEE-BLK-L", "min_qty": 2}, "max_qty", 422),  # no target at all
        ({"sku": "NOPE-1", "max_qty": 8}, "sku", 404),
        ({"sku": "TEE-BLK-L", "max_qty": "eight"}, "max_qty", 422),
    ],
)
def test_a_bad_rule_is_refused_with_its_field_and_nothing_saved(people, as_, fields, field, status):
    response = as_("S1").post("/replenishment/rules", data=_rule_form(**fields))
    assert response.status_code == status
    html = _html(response)
    assert re.search(
        rf'id="{field}"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*id="{field}"', html
    )
    assert queries.location_rules(people.locations["S1"]) == []


def test_an_owner_cannot_override_where_hq_keeps_the_rules(people, as_):
    services.set_default_rule(
        people.hq,
        people.net.brand,
        level="",
        category=None,
        data=RuleInput(min_qty=2, max_qty=6, owners_may_override=False),
    )
    db.session.commit()
    client = as_("S1")
    page = _html(client.get("/replenishment/rules"))
    assert "keeps the rules" in page and 'data-testid="toggle-auto-submit-PO"' not in page
    assert "Min 2, max 6" in page  # HQ's default, shown to the owner
    response = client.post("/replenishment/rules", data=_rule_form(sku="TEE-BLK-L", max_qty=8))
    assert response.status_code == 403
    assert queries.location_rules(people.locations["S1"]) == []


def test_an_owner_turns_auto_submit_on_and_off(people, as_):
    client = as_("S1")
    location = people.locations["S1"]
    response = client.post("/replenishment/rules/auto-submit", data={"brand": "PO", "on": "1"})
    assert response.status_code == 302
    assert queries.auto_submit_of(location, people.net.brand.id) is True
    page = _html(client.get("/replenishment/rules"))
    assert 'data-testid="auto-submit-PO" data-on="yes"' in page
    client.post("/replenishment/rules/auto-submit", data={"brand": "PO", "on": "0"})
    assert queries.auto_submit_of(location, people.net.brand.id) is False
    assert (
        client.post("/replenishment/rules/auto-submit", data={"brand": "ACME"}).status_code == 404
    )


def test_hq_sets_a_default_rule(people, as_):
    client = as_("HQ")
    category = people.net.variants["TEE-BLK-M"].product.category
    form = _rule_form(level="A", category=category.id, cover_days=14, lead_days=3, safety_qty=2)
    response = client.post("/replenishment/rules", data={**form, "owners_may_override": "y"})
    assert response.status_code == 302
    (rule,) = queries.default_rules(people.net.brand.id)
    assert (rule.level, rule.category_id, rule.cover_days, rule.lead_days) == (
        "A",
        category.id,
        14,
        3,
    )
    assert rule.owners_may_override is True
    page = _html(client.get("/replenishment/rules"))
    assert "14 days of cover, 3 days lead time, safety stock 2" in page


def test_hq_default_rule_with_bad_figures_is_refused(people, as_):
    client = as_("HQ")
    response = client.post(
        "/replenishment/rules", data=_rule_form(level="", category="", min_qty=9, max_qty=3)
    )
    assert response.status_code == 422
    assert "The maximum cannot be below the minimum." in _html(response)
    response = client.post(
        "/replenishment/rules", data=_rule_form(level="Z", category="", max_qty=3)
    )
    assert response.status_code == 422  # not a level of the network
    assert queries.default_rules(people.net.brand.id) == []
