"""A store's own shop (portal/storefront/store_shops.py, checkout with `shop_org_id`): the owner's
settings and prices (never below the brand's floor), what the shop lists, and checkout holding
the units at the store (or the warehouse, when the owner allows)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.core.access import Actor, Role
from portal.core.errors import NotFound, PermissionDenied, ValidationFailed
from portal.extensions import db
from portal.inventory.errors import InsufficientStock
from portal.network.models import Organization
from portal.policy import services
from portal.policy.models import Policy, PolicyVersion
from portal.storefront import stock, store_shops
from portal.storefront.checkout import CheckoutLine, checkout
from portal.storefront.models import Fulfilment, Tier
from portal.storefront.store_shops import ShopSettings
from tests.support.retail import RetailShop, build_retail_shop, retail_rules

JA_POINT = (31.2235, 121.4453)


@pytest.fixture
def shop(app) -> RetailShop:
    built = build_retail_shop("SS")
    add_floor(built, "category TOPS 75%")  # TEE 149.25, POLO 224.25
    return built


def add_floor(shop: RetailShop, lines: str) -> None:
    """The retail policy's next version, with these floor lines added."""
    live = (
        db.session.execute(
            select(PolicyVersion)
            .join(Policy, Policy.id == PolicyVersion.policy_id)
            .where(Policy.brand_id == shop.brand.id, Policy.code == f"{shop.brand.code}-RETAIL")
            .order_by(PolicyVersion.number.desc())
        )
        .scalars()
        .first()
    )
    draft = services.revise_policy(shop.net.hq, live)
    services.add_rules(shop.net.hq, draft, retail_rules(floor=lines))
    services.publish_policy(shop.net.hq, draft)


def store(shop: RetailShop, short: str) -> Organization:
    return db.session.get(Organization, shop.net.org_id(short))


def owner(shop: RetailShop, short: str = "JA"):
    return shop.staff(short, Role.STORE_OWNER)


def switch_on(shop: RetailShop, short: str = "JA", *, warehouse: bool = False):
    return store_shops.save_settings(
        owner(shop, short),
        shop.brand,
        store(shop, short),
        ShopSettings(
            enabled=True,
            hours="10:00-22:00 daily",
            address="1 Nanjing West Road",
            latitude=str(JA_POINT[0]),
            longitude=str(JA_POINT[1]),
            ship_from_warehouse=warehouse,
        ),
    )


def buy(shop: RetailShop, skus: dict[str, int], *, fulfilment=Fulfilment.PICKUP, org="JA"):
    consumer = shop.consumer()
    address = shop.address(consumer) if fulfilment == Fulfilment.DELIVERY else None
    return checkout(
        consumer,
        shop.brand,
        Tier.OFFICIAL,
        [CheckoutLine(shop.variant_id(sku), qty) for sku, qty in skus.items()],
        fulfilment=fulfilment,
        checkout_token=f"t-{sorted(skus.items())}-{fulfilment}",
        address_id=address.id if address else None,
        shop_org_id=shop.net.org_id(org),
    )


def test_a_price_below_the_floor_is_refused_naming_the_floor(shop):
    switch_on(shop)
    with pytest.raises(ValidationFailed) as refused:
        store_shops.set_price(owner(shop), shop.brand, store(shop, "JA"), "TEE", "149.24")
    assert "¥149.25" in refused.value.fields["price"]
    assert refused.value.extra["floor_cents"] == 14925
    store_shops.set_price(owner(shop), shop.brand, store(shop, "JA"), "TEE", "149.25")
    rows = {
        row.product.code: row
        for row in store_shops.price_table(owner(shop), shop.brand, store(shop, "JA"))
    }
    assert rows["TEE"].store_cents == 14925 and rows["TEE"].floor_cents == 14925
    assert (rows["TEE"].official_min, rows["TEE"].official_max) == (15000, 19900)
    assert rows["POLO"].store_cents is None and rows["POLO"].official_min == 29900


def test_a_price_changed_keeps_its_history_and_empty_goes_back_to_official(shop):
    switch_on(shop)
    ja = store(shop, "JA")
    store_shops.set_price(owner(shop), shop.brand, ja, "POLO", "289")
    store_shops.set_price(owner(shop), shop.brand, ja, "POLO", "279.50")
    assert store_shops.current_prices(shop.brand.id, ja.id) == {
        shop.net.variants["POLO-WHT-M"].product_id: 27950
    }
    store_shops.set_price(owner(shop), shop.brand, ja, "POLO", "")
    assert store_shops.current_prices(shop.brand.id, ja.id) == {}


def test_the_shop_lists_only_what_the_shelf_can_send_unless_the_warehouse_may(shop):
    switch_on(shop)
    ja_shop = store_shops.find_shop(shop.brand.id, store(shop, "JA").id)
    listed = {item.product.code for item in store_shops.list_shop_products(ja_shop)}
    # Jing'an: 1 tee after the 2 it keeps for walk-ins, 5 polos; no shoes, no bags.
    assert listed == {"TEE", "POLO"}
    offer = store_shops.shop_offer(ja_shop, "TEE")
    assert offer.at_store == {shop.variant_id("TEE-BLK-M"): 1}
    with pytest.raises(NotFound):
        store_shops.shop_offer(ja_shop, "RUN")

    switch_on(shop, warehouse=True)
    listed = {item.product.code for item in store_shops.list_shop_products(ja_shop)}
    assert listed == {"TEE", "POLO", "RUN"}
    run = store_shops.shop_offer(ja_shop, "RUN")
    assert run.at_warehouse == {shop.variant_id("RUN-BLK-42"): 6} and run.at_store == {}


def test_the_shop_shows_the_stores_price_never_below_a_floor_raised_later(shop):
    switch_on(shop)
    store_shops.set_price(owner(shop), shop.brand, store(shop, "JA"), "POLO", "250")
    ja_shop = store_shops.find_shop(shop.brand.id, store(shop, "JA").id)
    listed = {item.product.code: item for item in store_shops.list_shop_products(ja_shop)}
    assert listed["POLO"].min_cents == 25000
    add_floor(shop, "product POLO 90%")  # POLO's floor: 269.10
    listed = {item.product.code: item for item in store_shops.list_shop_products(ja_shop)}
    assert listed["POLO"].min_cents == 26910


def test_checkout_through_the_shop_holds_the_units_at_the_store_at_its_price(shop):
    switch_on(shop)
    store_shops.set_price(owner(shop), shop.brand, store(shop, "JA"), "POLO", "279")
    before = shop.level("JA", "POLO-WHT-M")
    order = buy(shop, {"POLO-WHT-M": 2})
    assert order.location_id == shop.locations["JA"].id
    assert order.shop_org_id == shop.net.org_id("JA")
    assert order.goods_cents == 2 * 27900 and order.lines[0].unit_price_cents == 27900
    assert shop.level("JA", "POLO-WHT-M") == (before[0], before[1] + 2)


def test_delivery_the_shelf_lacks_comes_from_the_warehouse_only_if_the_owner_allows(shop):
    switch_on(shop)
    levels = shop.levels()
    with pytest.raises(InsufficientStock) as short:
        buy(shop, {"RUN-BLK-42": 1}, fulfilment=Fulfilment.DELIVERY)
    assert short.value.fields == {"lines.0": "Only 0 available."}
    assert "Jing'an" in short.value.message
    assert shop.levels() == levels

    switch_on(shop, warehouse=True)
    order = buy(shop, {"RUN-BLK-42": 1}, fulfilment=Fulfilment.DELIVERY)
    assert order.location_id == shop.locations["warehouse"].id
    assert order.shop_org_id == shop.net.org_id("JA")
    assert shop.level("warehouse", "RUN-BLK-42") == (6, 1)
    # Pickup is at the store only: the warehouse hands nothing over.
    with pytest.raises(InsufficientStock):
        buy(shop, {"RUN-BLK-42": 1})


def test_a_switched_off_shop_sells_nothing(shop):
    with pytest.raises(PermissionDenied):
        buy(shop, {"POLO-WHT-M": 1})
    switch_on(shop)
    store_shops.save_settings(owner(shop), shop.brand, store(shop, "JA"), ShopSettings())
    levels = shop.levels()
    with pytest.raises(PermissionDenied):
        buy(shop, {"POLO-WHT-M": 1})
    assert shop.levels() == levels
    with pytest.raises(NotFound):
        store_shops.open_shop(shop.brand, shop.net.code("JA"))


def test_switching_on_needs_an_address_and_a_map_position(shop):
    with pytest.raises(ValidationFailed) as refused:
        store_shops.save_settings(
            owner(shop),
            shop.brand,
            store(shop, "JA"),
            ShopSettings(enabled=True, latitude="", longitude="", profit_share_account="a b"),
        )
    assert set(refused.value.fields) == {"address", "latitude", "profit_share_account"}


def test_another_stores_owner_cannot_see_or_change_this_shop(shop):
    switch_on(shop)
    lujiazui = owner(shop, "LJ")
    ja = store(shop, "JA")
    with pytest.raises(NotFound):
        store_shops.save_settings(lujiazui, shop.brand, ja, ShopSettings())
    with pytest.raises(NotFound):
        store_shops.set_price(lujiazui, shop.brand, ja, "TEE", "199")
    with pytest.raises(NotFound):
        store_shops.price_table(lujiazui, shop.brand, ja)
    # The owner's own store is found from who they are; HQ runs no store's shop.
    assert store_shops.own_store(lujiazui)[1].id == shop.net.org_id("LJ")
    with pytest.raises(NotFound):
        store_shops.own_store(shop.staff("HQ"))
    with pytest.raises(PermissionDenied):
        store_shops.own_store(shop.staff("JA"))  # staff: no shop.sell
    assert store_shops.is_on(shop.brand.id, ja.id)


def test_a_store_hq_switched_off_online_cannot_sell_through_its_own_shop(shop):
    """HQ's switch for the store (online locations) stands for the store's own shop too."""
    switch_on(shop)
    stock.set_online_location(Actor.system(), shop.brand, shop.locations["JA"], enabled=False)
    levels = shop.levels()
    with pytest.raises(PermissionDenied):
        buy(shop, {"POLO-WHT-M": 1})
    assert shop.levels() == levels
    with pytest.raises(NotFound):
        store_shops.open_shop(shop.brand, shop.net.code("JA"))
