"""Who may enter which storefront (DESIGN §7), asked by every page and API route of a tier.

- official: anyone, signed in or not;
- outlet: the brand's members;
- employee: employees, partner employees and friends holding a valid invite code.

Who counts as a member or an employee is portal/members' to say: it registers the rule of each
tier in `hooks.entry`. Without it (the storefront alone) every signed-in consumer of the brand
may enter the outlet, and the employee store is closed.
"""

from __future__ import annotations

from portal.network.models import Organization
from portal.storefront import hooks
from portal.storefront.auth import current_consumer
from portal.storefront.models import Consumer, ConsumerStatus, Tier


def may_enter(brand: Organization, tier: str, consumer: Consumer | None = None) -> bool:
    """Whether the visitor (`consumer`, or whoever this request is signed in as) may enter."""
    if tier == Tier.OFFICIAL:
        return True
    consumer = consumer or current_consumer(brand)
    if (
        consumer is None
        or consumer.brand_id != brand.id
        or consumer.status != ConsumerStatus.ACTIVE
    ):
        return False
    rule = hooks.entry.get(tier)
    if rule is not None:
        return rule(brand, consumer)
    return tier == Tier.OUTLET
