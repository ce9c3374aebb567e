"""What a member may spend at checkout besides money, for the checkout page and the shop API
(`storefront.hooks.spend_offers`): their points within the programme's cap, their wallet, and
their coupons that apply to the storefront. A consumer who is not a member of the brand's
programme may spend nothing of these."""

from __future__ import annotations

from portal.members import coupons, membership, points, wallet
from portal.network.models import Organization
from portal.storefront.hooks import CouponChoice, SpendOptions
from portal.storefront.models import Consumer


def offer(
    consumer: Consumer, brand: Organization, tier: str, goods_cents: int
) -> SpendOptions | None:
    member = membership.member_in(brand, consumer)
    if member is None:
        return SpendOptions()
    terms = membership.terms_of(member)
    held = points.balance(member).available
    return SpendOptions(
        points_available=held,
        points_max=points.max_redeemable(member, goods_cents, terms),
        cents_per_point=terms.points.cents_per_point,
        wallet_cents=wallet.balance_cents(member),
        coupons=tuple(
            CouponChoice(usable.id, usable.label)
            for usable in coupons.usable(member, brand.id, tier)
        ),
    )
