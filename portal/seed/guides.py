"""The demo's store shop and shopping guides: ACME's Wangfujing store (S1) sells online through
its own shop, with the warehouse sending what its shelf lacks and its own price on one product;
its owner and its staff member are ACME guides with codes."""

from __future__ import annotations

from sqlalchemy import select

from portal.core.money import from_cents
from portal.extensions import db
from portal.guides import roster
from portal.guides.models import Guide
from portal.seed.lookup import actor as _actor
from portal.seed.lookup import org as _org
from portal.storefront import store_shops
from portal.storefront.store_shops import ShopSettings

STORE = "S1"
GUIDES = ("store1@demo.test", "staff1@demo.test")
STORE_MARKUP_CENTS = 1_000  # the store's own price: 10 yuan above the official price


def seed_guides() -> int:
    """Create whatever of the demo's store shop and guides is missing; return how many."""
    acme, store = _org("ACME"), _org(STORE)
    owner = _actor("store1@demo.test", STORE)
    created = 0
    if store_shops.find_shop(acme.id, store.id) is None:
        store_shops.save_settings(
            owner,
            acme,
            store,
            ShopSettings(
                enabled=True,
                hours="10:00-22:00",
                address=store.address or "Wangfujing Street 1, Beijing",
                latitude=store.latitude if store.latitude is not None else 39.9149,
                longitude=store.longitude if store.longitude is not None else 116.4103,
                ship_from_warehouse=True,
            ),
        )
        created += 1
        rows = store_shops.price_table(owner, acme, store)
        if rows:
            row = rows[0]
            cents = max(row.official_max, row.floor_cents or 0) + STORE_MARKUP_CENTS
            store_shops.set_price(owner, acme, store, row.product.code, str(from_cents(cents)))
            created += 1
    for email in GUIDES:
        person = _actor(email, STORE)
        assert person.user_id is not None
        if roster.find_guide(person.user_id, store.id, acme.id) is None:
            roster.guide_for(person.user_id, store.id, acme.id)
            created += 1
    db.session.flush()
    return created


def guide_lines(base: str) -> list[str]:
    """What `flask seed demo` prints about the store shop and the guides."""
    acme, store = _org("ACME"), _org(STORE)
    codes = db.session.execute(
        select(Guide.code).where(Guide.brand_id == acme.id, Guide.org_id == store.id)
    ).scalars()
    return [
        f"  store shop: {base}/shop/ACME/s/{STORE}/   (owner store1@demo.test at {base}/my-shop/)",
        f"  guides of {STORE} (codes {', '.join(sorted(codes))}): {base}/guides/me",
    ]
