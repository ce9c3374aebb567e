"""Finance fixtures on the demo network (tests/conftest.py): accounts of its channel links and
ledger entries at chosen moments, inside the test's rollback.

    ACME ── D1 (distributor, supplier ACME) ── S1, S3, S4 (stores, supplier D1)
         ├─ D2 ── S2, S5
    LUMI ── D1 (again) ── L1          LUMI ── D4 ── L2
"""

from __future__ import annotations

from datetime import datetime

import pytest
from sqlalchemy import select

from portal.core.access import Actor
from portal.extensions import db
from portal.finance import services
from portal.finance.models import Account, AccountEntry, EntryKind
from portal.inventory.models import Location
from portal.network.models import ChannelLink
from portal.ordering.models import Order, OrderStatus
from tests.support.services import org

# Buyers whose accounts the demo's orders leave alone (portal/seed/orders.py writes S1's, D1's and
# C1's): S3, signed in as its owner, and S4; both buy ACME from D1.
FRESH, FRESH_OWNER, UNTOUCHED = "S3", "owner34@demo.test", "S4"


class Ledger:
    def link(self, buyer: str, brand: str = "ACME") -> ChannelLink:
        return db.session.execute(
            select(ChannelLink).where(
                ChannelLink.buyer_org_id == org(buyer).id, ChannelLink.brand_id == org(brand).id
            )
        ).scalar_one()

    def account(self, buyer: str, brand: str = "ACME") -> Account:
        return services.ensure_account(self.link(buyer, brand))

    def entry(
        self,
        account: Account,
        kind: str,
        amount_cents: int,
        at: datetime,
        *,
        reference: str = "",
        note: str = "",
    ) -> AccountEntry:
        """An entry as it was written at `at` (services stamp the present moment)."""
        entry = AccountEntry(
            brand_id=account.brand_id,
            account_id=account.id,
            kind=kind,
            amount_cents=amount_cents,
            currency=account.currency,
            reference=reference,
            note=note,
            created_at=at,
        )
        db.session.add(entry)
        db.session.flush()
        return entry

    def invoice(self, account: Account, cents: int, reference: str = "shipment:1") -> AccountEntry:
        entry = services.post_invoice(
            Actor.system(), account, amount_cents=cents, reference=reference, payment_terms_days=15
        )
        assert entry is not None
        return entry

    def order(self, buyer: str, number: str) -> Order:
        """A shipped order of the buyer's, for entries that name one."""
        link = self.link(buyer)

        def location(org_id: int) -> int:
            return db.session.execute(
                select(Location.id).where(Location.org_id == org_id, Location.is_default.is_(True))
            ).scalar_one()

        order = Order(
            number=number,
            brand_id=link.brand_id,
            buyer_org_id=link.buyer_org_id,
            supplier_org_id=link.supplier_org_id,
            link_id=link.id,
            status=OrderStatus.SHIPPED,
            currency="CNY",
            source_location_id=location(link.supplier_org_id),
            destination_location_id=location(link.buyer_org_id),
        )
        db.session.add(order)
        db.session.flush()
        return order

    def entries(self, account: Account) -> list[AccountEntry]:
        return list(
            db.session.execute(
                select(AccountEntry)
                .where(AccountEntry.account_id == account.id)
                .order_by(AccountEntry.id)
            ).scalars()
        )


@pytest.fixture
def ledger(app) -> Ledger:
    return Ledger()


KINDS = tuple(kind.value for kind in EntryKind)
