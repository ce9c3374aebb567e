"""The network pages in a real browser: sign in, read the tree, add a store, switch language."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.browser


def store_count(page: Page) -> int:
    return int(page.get_by_test_id("count-stores").inner_text().strip())


def test_hq_signs_in_sees_tree_adds_store_and_switches_to_chinese(
    page: Page, live_server: str, sign_in: Callable[[str], Page]
) -> None:
    sign_in("hq@demo.test")

    page.get_by_role("link", name="Network", exact=True).click()
    expect(page).to_have_url(re.compile(r"/network"))
    tree = page.locator("ul.tree")
    expect(tree.locator('li[data-org="D1"]')).to_be_visible()
    expect(tree.locator('li[data-org="D1"] li[data-org="S1"]')).to_be_visible()
    expect(page.get_by_test_id("count-stores")).to_have_text(re.compile(r"^\s*\d+\s*$"))
    stores_before = store_count(page)
    assert stores_before > 0

    page.get_by_test_id("add-store").click()
    expect(page).to_have_url(re.compile(r"/orgs/new\?.*kind=store"))
    expect(page.locator('select[name="kind"]')).to_have_value("store")
    page.select_option('select[name="supplier"]', "D2")
    page.fill('input[name="code"]', "E2E1")
    page.fill('input[name="name"]', "E2E Test Store")
    page.fill('input[name="level"]', "B")
    page.fill('input[name="region"]', "south")
    page.get_by_role("button", name="Add", exact=True).click()

    expect(page).to_have_url(re.compile(r"/orgs/E2E1$"))
    expect(page.locator("main h1")).to_have_text("E2E Test Store")

    page.get_by_role("link", name="Network", exact=True).click()
    expect(page.locator('li[data-org="D2"] li[data-org="E2E1"]')).to_have_count(1)
    expect(page.get_by_test_id("count-stores")).to_have_text(str(stores_before + 1))

    page.get_by_test_id("lang-zh").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.get_by_test_id("lang-en")).to_be_visible()
    expect(page.locator("header .nav-links")).to_contain_text("渠道网络")


def test_distributor_does_not_see_other_distributors_stores(
    page: Page, live_server: str, sign_in: Callable[[str], Page]
) -> None:
    sign_in("dist1@demo.test")

    page.goto(live_server + "/network")
    expect(page.locator('li[data-org="S1"]')).to_be_visible()
    expect(page.locator('li[data-org="S2"]')).to_have_count(0)

    response = page.goto(live_server + "/orgs/S2")
    assert response is not None
    assert response.status == 404
