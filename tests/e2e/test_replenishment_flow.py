"""Replenishment in a real browser: the demo store S1 (which buys ACME from D1) computes its
suggested order from its page, reads why each line is there, changes a quantity and submits the
suggestion as an order.

The demo seed gives S1 its own rules on two SKUs D1 has plenty of and runs today's replenishment
for the whole brand (portal/seed/replenishment.py), so S1's suggestion for today exists before
the browser arrives; "compute now" runs S1's location again and finds it there (one suggestion
per location and day)."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Page, expect

from portal import create_app
from portal.extensions import db
from portal.ordering import queries as ordering_queries
from portal.policy import queries as policy_queries
from portal.replenishment import queries
from portal.replenishment.models import SuggestionStatus
from tests.e2e.conftest import serve_portal
from tests.support.services import actor_for

pytestmark = pytest.mark.browser


@dataclass(frozen=True)
class Plan:
    base_url: str
    sku: str  # the line the store edits
    rule: str  # its rule, as the page words it
    edited: int  # a quantity the order checks accept: one more step than suggested


def _plan(app, base_url: str) -> Plan:
    """Read S1's seeded suggestion through the queries and pick the edit the browser makes."""
    with app.app_context():
        store = actor_for("store1@demo.test")
        (suggestion,) = queries.list_suggestions(
            store, own_only=True, status=SuggestionStatus.OPEN
        ).items
        line = next(ln for ln in suggestion.lines if ln.reason.get("min") is not None)
        link = next(ln for ln in ordering_queries.buyer_links(store) if ln.brand.code == "ACME")
        terms = policy_queries.resolve_one(policy_queries.Buyer.of(link, "S1"), line.variant, None)
        edited = line.qty + math.lcm(max(line.variant.case_pack, 1), max(terms.multiple, 1))
        free = ordering_queries.available_to(link, [line.variant_id])[line.variant_id]
        assert link.supplier.code == "D1" and edited <= free, "the demo changed: adjust the test"
        rule = f"Min {line.reason['min']}, max {line.reason['max']}"
        plan = Plan(base_url, line.variant.sku, rule, edited)
        db.session.remove()
        return plan


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Plan]:
    """A database of this module's own: the other flows share the session's, and their orders
    take D1's stock."""
    db_path = tmp_path_factory.mktemp("e2e-replenishment") / "portal.db"
    with serve_portal(db_path) as base_url:
        reader = create_app(
            "testing", SQLALCHEMY_DATABASE_URI=f"sqlite:///{db_path}", REDIS_URL=None
        )
        found = _plan(reader, base_url)
        with reader.app_context():
            db.engine.dispose()
        yield found


@pytest.fixture(scope="module")
def live_server(plan: Plan) -> str:
    return plan.base_url


def in_english(page: Page) -> None:
    if page.get_by_test_id("lang-en").count():  # the language is remembered per user
        page.get_by_test_id("lang-en").click()


def test_store_computes_reads_edits_and_submits_its_suggestion(
    page: Page, plan: Plan, sign_in: Callable[[str], Page]
) -> None:
    base, sku = plan.base_url, plan.sku
    sign_in("store1@demo.test")
    in_english(page)

    # From the menu to the suggested orders; compute now: the run's progress bar shows it
    # finished, and today's suggestion is listed.
    page.get_by_test_id("replenishment-link").click()
    expect(page).to_have_url(f"{base}/replenishment")
    page.get_by_test_id("run-ACME").click()
    expect(page).to_have_url(re.compile(r"/replenishment\?job="))
    expect(page.locator("#job-status")).to_have_attribute("data-status", "finished")
    page.locator("table[data-testid=open-ACME] tbody tr[data-suggestion] a").first.click()
    expect(page).to_have_url(re.compile(r"/replenishment/suggestions/\d+$"))

    # Why the line is there: the rule, sales, the stock position and the target.
    reason = page.get_by_test_id(f"reason-{sku}")
    expect(reason).to_contain_text(plan.rule)
    expect(reason).to_contain_text(re.compile(r"Sells [\d.]+ a day"))
    expect(reason).to_contain_text(re.compile(r"position -?\d+"))
    expect(reason).to_contain_text("Target")
    expect(page.get_by_test_id("suggestion-lines")).to_contain_text("days of cover")

    # Change the line and keep it; then change it again and submit straight away.
    quantity = page.get_by_test_id(f"qty-{sku}")
    quantity.fill("0")
    page.get_by_test_id("save-quantities").click()
    expect(page.locator(".flash-success")).to_contain_text("Quantities saved.")
    expect(page.get_by_test_id(f"qty-{sku}")).to_have_value("0")
    page.get_by_test_id(f"qty-{sku}").fill(str(plan.edited))
    page.get_by_test_id("submit-suggestion").click()

    # The new order, with the line as edited.
    expect(page).to_have_url(re.compile(r"/orders/ACME-\d+$"))
    expect(page.locator(".flash-success")).to_contain_text("placed")
    row = page.locator(f"table[data-testid=order-lines] tr[data-sku='{sku}']")
    expect(row.locator("td").nth(2)).to_have_text(str(plan.edited))
    expect(page.get_by_test_id("po-number")).to_contain_text("REPL-")
    number = page.url.rsplit("/", 1)[-1]

    # Back on the suggestion: submitted, with its order, and nothing left to edit.
    page.goto(f"{base}/replenishment")
    page.locator("table[data-testid=recent] tbody tr[data-suggestion] a").first.click()
    expect(page.get_by_test_id("suggestion-status")).to_contain_text("Submitted")
    expect(page.get_by_test_id("order-link")).to_have_text(number)
    expect(page.get_by_test_id("submit-suggestion")).to_have_count(0)
