"""Who may enter the employee store (DESIGN §7): employees, partner employees, invited friends.

TODO(helper C1): entitlement records, HR lists, partner companies, invite codes and quotas.
"""

from __future__ import annotations

from portal.network.models import Organization
from portal.storefront.models import Consumer


def may_enter_employee_store(brand: Organization, consumer: Consumer | None) -> bool:
    return False
