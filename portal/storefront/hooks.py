"""Where the layers above the storefront (members, and later guides) plug into it, without the
storefront ever importing them (tests/test_imports.py): they register functions here when the app
starts (`portal.members.register`), and the storefront calls whatever is registered.

- `entry[tier]`: who may enter a storefront other than the official one (entry.may_enter);
- `price_adjusters`: change a consumer's prices (a member level's outlet discount), on pages and
  at checkout alike;
- `checkout_before_place`: run after the lines are priced, before any unit is held: may replace
  prices (a private sale's), fix the location and add moves to the reservation (an event's set-
  aside units), or refuse;
- `checkout_after_place`: run on the placed order, in order, before its payment is created:
  limits, coupons, points, wallet. Each sets its own columns of the order (`discount_cents`,
  `points_used` / `points_cents`, `wallet_cents`); the payment asks the provider for the rest;
- `status_listeners`: told of every move of an order (paid, completed, cancelled, ...), in its
  transaction, after the move is written; a call-off (cancel, expire, refund) has released the
  order's units by then;
- `spend_offers`: what a consumer may spend at checkout besides money (points, wallet, their
  coupons), for the checkout page and the API to offer; the first that answers wins;
- `consumer_erased`: told when a consumer is erased on their request (their membership goes
  with them), in the erasure's transaction;
- `payment_paid`: told of every payment a provider's notice found paid that is not a consumer
  order's (a wallet top-up), in the notice's transaction;
- `refund_rest`: pays back the part of a refund that the provider did not take (wallet, points),
  and applies the coupon rule; required once an order spent anything but money;
- `refund_listeners`: told of every refund after it is paid back (guides: the commission and the
  split of the order's money follow it);
- `consumer_signed_up`: told when a consumer's account is made, with the guide code they gave
  (guides: binding at registration);
- `before_call_off`: told of an order about to be cancelled, expired or refunded, before its
  units are released, so a layer above takes its own locks in the order checkout takes them (a
  group buy's group row before any stock row: campaigns), never the other way round.

Every hook runs in the caller's transaction: what it refuses (a DomainError) undoes the whole
checkout with it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.inventory.ledger import MoveLine
    from portal.network.models import Organization
    from portal.storefront.catalog import LinePrice
    from portal.storefront.models import Consumer, ConsumerOrder
    from portal.storefront.payments.models import Payment


@dataclass(frozen=True)
class CheckoutExtras:
    """What a consumer asks to spend or join at checkout, beyond the money they pay."""

    points: int = 0  # points to redeem
    wallet_cents: int = 0  # stored value to use
    coupon_ids: tuple[int, ...] = ()  # the consumer's own coupons to apply
    event_code: str | None = None  # the private sale the lines are bought in
    guide_code: str | None = None  # a shopping guide's code the consumer typed
    visitor: str | None = None  # the browser's own id: guide links it opened before signing in
    group_buy: str | None = None  # a group buy's code: buy at its group price (campaigns)
    group: str | None = None  # with group_buy: the code of the open group to join (else open one)

    @property
    def asks_hooks(self) -> bool:
        """Whether anything here changes what is charged or where units come from (a guide's
        code or the browser id only say who sold)."""
        return bool(
            self.points or self.wallet_cents or self.coupon_ids or self.event_code
            or self.group_buy
        )  # fmt: skip


@dataclass
class CheckoutContext:
    """One checkout as the hooks see it; `before_place` steps may change the marked fields."""

    consumer: Consumer
    brand: Organization
    tier: str
    extras: CheckoutExtras
    wanted: dict[tuple[int, str], int]  # (variant id, grade) -> units
    where: dict[tuple[int, str], str]  # (variant id, grade) -> the field that names its line
    prices: dict[int, LinePrice]  # may be replaced
    fixed_location_id: int | None = None  # may be set: the units must come from here
    extra_moves: list[MoveLine] = field(default_factory=list)  # may grow: made with the reserve
    details: dict[str, Any] = field(default_factory=dict)  # notes for the order's first event
    shop_org_id: int | None = None  # the store whose own shop sells it (/shop/<brand>/s/<code>/)
    placed_by_user_id: int | None = None  # store staff ordering for a walk-in customer
    guide: Any = None  # may be set: the guide a typed code named (found once, before placing)


@dataclass(frozen=True)
class RefundRequest:
    order: ConsumerOrder
    amount_cents: int  # the whole value refunded now (provider share included)
    provider_cents: int  # what the provider pays back of it
    rest_cents: int  # what the hooks must pay back (wallet, points)
    reference: str  # unique per refund: a repeat must do nothing twice
    full: bool  # the order is refunded whole (a cancel, not a return of some lines)


@dataclass(frozen=True)
class CouponChoice:
    id: int
    label: str  # what it gives, in the consumer's language ("¥50 off ¥300")


@dataclass(frozen=True)
class SpendOptions:
    """What a consumer may spend on an order of `goods_cents` besides money."""

    points_available: int = 0
    points_max: int = 0  # the most points this order may take (the cap, and what is held)
    cents_per_point: int = 1
    wallet_cents: int = 0
    coupons: tuple[CouponChoice, ...] = ()

    @property
    def any(self) -> bool:
        return bool(self.points_max or self.wallet_cents or self.coupons)


EntryRule = Callable[["Organization", "Consumer | None"], bool]
PriceAdjuster = Callable[[int, str, "Consumer | None", "dict[int, LinePrice]"], None]
BeforePlace = Callable[[CheckoutContext], None]
AfterPlace = Callable[[CheckoutContext, "ConsumerOrder"], None]
StatusListener = Callable[["ConsumerOrder", str], None]  # the order, the move's action
RefundRest = Callable[[RefundRequest], None]
PaymentPaid = Callable[["Payment"], None]
SpendOffer = Callable[["Consumer", "Organization", str, int], "SpendOptions | None"]

entry: dict[str, EntryRule] = {}
price_adjusters: list[PriceAdjuster] = []
checkout_before_place: list[BeforePlace] = []
checkout_after_place: list[AfterPlace] = []
status_listeners: list[StatusListener] = []
refund_rest: list[RefundRest] = []
refund_listeners: list[RefundRest] = []
consumer_signed_up: list[Callable[[Consumer, str | None], None]] = []
payment_paid: list[PaymentPaid] = []
spend_offers: list[SpendOffer] = []
consumer_erased: list[Callable[[Consumer], None]] = []
before_call_off: list[Callable[[ConsumerOrder], None]] = []


def adjust_prices(
    brand_id: int, tier: str, consumer: Consumer | None, prices: dict[int, LinePrice]
) -> dict[int, LinePrice]:
    """Every registered adjuster, in turn, on `prices` (changed in place, and returned)."""
    for adjust in price_adjusters:
        adjust(brand_id, tier, consumer, prices)
    return prices


def order_moved(order: ConsumerOrder, action: str) -> None:
    for listener in status_listeners:
        listener(order, action)


def payment_recorded(payment: Payment) -> None:
    for listener in payment_paid:
        listener(payment)


def spend_options(
    consumer: Consumer, brand: Organization, tier: str, goods_cents: int
) -> SpendOptions:
    for offer in spend_offers:
        options = offer(consumer, brand, tier, goods_cents)
        if options is not None:
            return options
    return SpendOptions()
