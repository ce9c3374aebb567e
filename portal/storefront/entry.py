"""Who may enter which storefront (DESIGN §7), asked by every page and API route of a tier.

- official: anyone, signed in or not;
- outlet: the brand's members. Until membership is its own record (the members issue: joining,
  levels, a brand group's shared membership), every signed-in consumer of the brand is a member:
  signing up is joining;
- employee: employees and friends holding a valid invite code. Both come with the members issue
  (HR lists, partner domains, invite codes with quotas); until then the employee store is closed
  to everyone, and its page says who it is for.
"""

from __future__ import annotations

from portal.network.models import Organization
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
    return tier == Tier.OUTLET
