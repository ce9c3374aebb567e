"""Split settlement (分账): how each paid consumer order's money divides between the parties.

The rule. P is what the order is worth in money: `total_cents` (goods + delivery - coupons).
Points and stored value are the brand's own liabilities, so they count as money the brand
received. P divides into shares that always sum to P exactly and are never negative:

1. payment fee: P x PAYMENT_FEE_BP / 10,000 (config, default 60 = 0.6%), rounded DOWN to the
   fen (explicit floor division: the provider's fee is never overstated), party `payment_fee`,
   no org;
2. guide's store: the order's `Attribution.commission_cents` when the attribution earns, party
   `guide_store`, the guide's org. The same store may also fulfil the order: it then has two
   rows, one per party. If fee + commission would exceed P, the commission is cut first (to
   P - fee), so nothing goes negative;
3. the rest, R = P - fee - commission, goes by where the units were held:
   - at a location of a store (any org other than the brand): that store gets R, party
     `fulfilling_store` (its own stock, already bought from the brand); no brand row;
   - at the brand's own location (its warehouse), for an order sold through a store's own shop
     (`order.shop_org_id` = S): the brand gets its B2B price to S for the goods (S's policy
     price per unit x qty, resolved as B2B ordering prices S), capped at R, party `brand`; S
     gets what is left, party `fulfilling_store` ("its margin"). A line S may not be sold at
     all counts at its consumer price (the brand keeps it);
   - at the brand's location, sold by the brand's own storefronts: the brand gets R.
   A share of 0 has no row.

When: the rows (kind "sale", reference "paid") are written when the order moves to paid, by the
provider's notice or paid in full with points and wallet (status listener, action "pay").
A refund writes "refund" rows (negative, reference = the refund's reference) taking back each
share in proportion to what is left of it (largest remainders get the odd fen, so they sum to
the refund exactly); the refund that leaves the order fully refunded takes back exactly what is
left of each share. Every write is made once: the table's unique (order, party, reference)
and a check before writing make a repeated notice or refund write nothing.

Posting: the fulfilling store's share posts to that store's channel-link account for the
order's brand as a `settlement` entry: negative (the store owes its supplier less) for a sale,
positive for a refund, reference "split:<order>:<party>:<ref>". The guide's store share is the
order's commission, paid once, through the monthly commission statements: it is recorded here
and posts nowhere. The brand's and the fee's shares post nowhere: the brand received the money.
Each share is paid one way only.

Provider profit sharing (`share_with_provider`): once the order completes, the fulfilling
store's net share, when the store has a receiver account at the provider, is sent through the
provider's profit sharing (WeChat Pay 分账, Alipay trade settle) by the job
`jobs_split.share_profits`; what was sent is then taken off the store's account ("...:shared":
the brand no longer owes it), so the money reaches the store once. Only at completion, since a
share sent to a receiver cannot be taken back simply (WeChat needs a separate return order per
receiver; Alipay a refund with royalty reversal): a refund after completion (a return) is left
to the accounts, where the refund rows above post it. The payment must have been made with
profit sharing enabled at the provider (WeChat: `settle_info.profit_sharing`), or the provider
refuses the request; the job records the refusal and does not retry it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import case, func, select
from sqlalchemy.exc import IntegrityError

from portal.catalog.models import Variant
from portal.core.access import Actor
from portal.core.db import in_ids, utcnow
from portal.extensions import db
from portal.finance import services as finance
from portal.finance.models import AccountEntry
from portal.guides.commission import order_attribution
from portal.guides.models import OrderSplit, SplitParty
from portal.network.models import ChannelLink, Organization
from portal.policy import queries as policy
from portal.storefront.hooks import RefundRequest
from portal.storefront.models import ConsumerOrder
from portal.storefront.payments.base import ShareReceiver, ShareRequest, ShareState
from portal.storefront.payments.providers import provider_named
from portal.storefront.queries import payment_of
from portal.storefront.store_shop_models import StoreShop

BP = 10_000
SALE, REFUND = "sale", "refund"
PAID_REFERENCE = "paid"
PARTY_ORDER: tuple[str, ...] = tuple(SplitParty)
# What posts to a store's account and may go through the provider's profit sharing: the
# fulfilling store's share. The guide's store share is the order's commission, which is paid
# through the monthly commission statements (guides/settlement.py), never a second way.
POSTED_PARTIES = (SplitParty.FULFILLING_STORE,)


@dataclass(frozen=True)
class Share:
    party: str
    org_id: int | None
    cents: int


# -- the rule ----------------------------------------------------------------------------------


def fee_of(total_cents: int) -> int:
    """The payment provider's fee, rounded down to the fen."""
    rate = int(current_app.config.get("PAYMENT_FEE_BP", 60))
    return max(0, total_cents) * rate // BP


def store_link(brand_id: int, org_id: int) -> ChannelLink | None:
    """The store's channel link in the brand's network (one per brand and buyer)."""
    return db.session.execute(
        select(ChannelLink).where(
            ChannelLink.brand_id == brand_id, ChannelLink.buyer_org_id == org_id
        )
    ).scalar_one_or_none()


def brand_price_to(order: ConsumerOrder, org_id: int) -> int:
    """What the store `org_id` pays the brand for the order's goods: its B2B policy price per
    unit (as B2B ordering resolves it for that buyer), times the quantity. A line the store may
    not be sold counts at what the consumer paid for it (the brand keeps the line)."""
    link = store_link(order.brand_id, org_id)
    lines = list(order.lines)
    if link is None:
        return sum(line.line_cents for line in lines)
    variants = (
        db.session.execute(
            select(Variant).where(in_ids(Variant.id, {line.variant_id for line in lines}))
        )
        .scalars()
        .all()
    )
    terms = policy.resolve(policy.Buyer.for_link(link), variants, order.paid_at or utcnow())
    total = 0
    for line in lines:
        sku = terms.get(line.variant_id)
        if sku is not None and sku.authorized and sku.price_cents is not None:
            total += sku.price_cents * line.qty
        else:
            total += line.line_cents
    return total


def compute_shares(order: ConsumerOrder) -> list[Share]:
    """The order's division by the rule above (module docstring); zero shares left out."""
    total = max(0, order.total_cents)
    fee = min(fee_of(total), total)
    attribution = order_attribution(order.id)
    commission = 0
    guide_org_id = None
    if attribution is not None and attribution.earns and attribution.commission_cents > 0:
        commission = min(attribution.commission_cents, total - fee)  # cut first
        guide_org_id = attribution.guide_org_id
    rest = total - fee - commission
    shares = [Share(SplitParty.PAYMENT_FEE, None, fee)]
    if guide_org_id is not None:
        shares.append(Share(SplitParty.GUIDE_STORE, guide_org_id, commission))
    holder = order.location.org_id
    if holder != order.brand_id:
        shares.append(Share(SplitParty.FULFILLING_STORE, holder, rest))
    elif order.shop_org_id is not None and order.shop_org_id != order.brand_id:
        brand = min(brand_price_to(order, order.shop_org_id), rest)
        shares.append(Share(SplitParty.BRAND, order.brand_id, brand))
        shares.append(Share(SplitParty.FULFILLING_STORE, order.shop_org_id, rest - brand))
    else:
        shares.append(Share(SplitParty.BRAND, order.brand_id, rest))
    kept = [share for share in shares if share.cents > 0]
    assert sum(share.cents for share in kept) == total, "the shares must sum to the order"
    assert all(share.cents >= 0 for share in kept)
    return kept


def take_back(left: dict[tuple[str, int | None], int], amount: int) -> dict[Any, int]:
    """`amount` taken from the shares `left` in proportion to each, in whole fen: each share's
    exact part rounded down, the fen left over go to the largest remainders (ties: in party
    order). Never more than a share has; sums to `amount` (at most the sum of `left`)."""
    whole = sum(left.values())
    amount = min(amount, whole)
    if whole <= 0 or amount <= 0:
        return {}
    if amount == whole:
        return {key: cents for key, cents in left.items() if cents > 0}
    parts = {key: cents * amount // whole for key, cents in left.items()}
    short = amount - sum(parts.values())
    by_remainder = sorted(
        left,
        key=lambda key: (-(left[key] * amount % whole), PARTY_ORDER.index(key[0]), key[1] or 0),
    )
    for key in by_remainder[:short]:
        parts[key] += 1
    return {key: cents for key, cents in parts.items() if cents > 0}


# -- writing ------------------------------------------------------------------------------------


def _rows(order: ConsumerOrder) -> list[OrderSplit]:
    return list(
        db.session.execute(
            select(OrderSplit)
            .where(OrderSplit.consumer_order_id == order.id)
            .order_by(OrderSplit.id)
        ).scalars()
    )


def _write(
    order: ConsumerOrder, shares: dict[tuple[str, int | None], int], kind: str, reference: str
) -> list[OrderSplit]:
    """One row per share (negative for a refund), each store's posted to its account; all or
    nothing: a row that already exists (a race lost) writes none of them."""
    sign = -1 if kind == REFUND else 1
    written = []
    try:
        with db.session.begin_nested():
            for (party, org_id), cents in sorted(
                shares.items(), key=lambda item: PARTY_ORDER.index(item[0][0])
            ):
                row = OrderSplit(
                    brand_id=order.brand_id,
                    consumer_order_id=order.id,
                    party=party,
                    org_id=org_id,
                    kind=kind,
                    amount_cents=sign * cents,
                    currency=order.currency,
                    reference=reference,
                )
                if party in POSTED_PARTIES and org_id is not None:
                    entry = _post(order, party, org_id, sign * cents, reference)
                    row.account_entry_id = entry.id if entry is not None else None
                db.session.add(row)
                written.append(row)
            db.session.flush()
    except IntegrityError:
        return []
    return written


def _post(
    order: ConsumerOrder, party: str, org_id: int, cents: int, reference: str
) -> AccountEntry | None:
    """The store's share on its channel-link account: the brand owes it (negative) for a sale,
    a refund's row takes it back (positive). A share of the brand's own org posts nowhere."""
    if org_id == order.brand_id:
        return None
    link = store_link(order.brand_id, org_id)
    if link is None:
        return None
    account = finance.ensure_account(link)
    kind_note = "refund of " if cents < 0 else ""
    note = f"Consumer order {order.number}: {kind_note}{party.replace('_', ' ')} share"
    return finance.post_settlement(
        Actor.system(),
        account,
        amount_cents=-cents,
        reference=f"split:{order.number}:{party}:{reference}",
        note=note,
    )


def _paid_out(
    order: ConsumerOrder,
    receivers: list[ShareReceiver],
    provider: str,
    wanted: list[tuple[str, int, str, int]],
) -> None:
    """The provider is sending the stores their shares in money: each store's account takes
    back the credit its share was posted as (the brand owes it that much less), once per order
    and store. A refund after this posts as usual, so the store then owes back what it had.
    `wanted` is the order's `shares_to_send`."""
    accounts = {account: (party, org_id) for party, org_id, account, _cents in wanted}
    for receiver in receivers:
        found = accounts.get(receiver.account)
        if found is None:
            continue
        party, org_id = found
        link = store_link(order.brand_id, org_id)
        if link is None:
            continue
        account = finance.ensure_account(link)
        reference = f"split:{order.number}:{party}:shared"
        done = db.session.execute(
            select(AccountEntry.id).where(
                AccountEntry.account_id == account.id, AccountEntry.reference == reference
            )
        ).first()
        if done is None:
            finance.post_settlement(
                Actor.system(),
                account,
                amount_cents=receiver.amount_cents,
                reference=reference,
                note=f"Consumer order {order.number}: share paid out through {provider}",
            )


def record_sale(order: ConsumerOrder) -> list[OrderSplit]:
    """Write the paid order's division once (a repeat finds it written and writes nothing)."""
    if any(row.reference == PAID_REFERENCE for row in _rows(order)):
        return []
    shares = {(s.party, s.org_id): s.cents for s in compute_shares(order)}
    return _write(order, shares, SALE, PAID_REFERENCE)


def record_refund(request: RefundRequest) -> list[OrderSplit]:
    """Take back each share in proportion to the refund (all that is left of each, when the
    order is now refunded whole). Nothing when the order was never split, or the refund's
    reference is written already."""
    order = request.order
    rows = _rows(order)
    if not any(row.kind == SALE for row in rows):
        return []
    if any(row.reference == request.reference for row in rows):
        return []
    left: dict[tuple[str, int | None], int] = defaultdict(int)
    for row in rows:
        left[(row.party, row.org_id)] += row.amount_cents
    whole = request.full or order.refunded_cents >= order.total_cents
    amount = sum(left.values()) if whole else request.amount_cents
    return _write(order, take_back(dict(left), amount), REFUND, request.reference)


# -- hooks ------------------------------------------------------------------------------------


def order_moved(order: ConsumerOrder, action: str) -> None:
    """Status listener (storefront hooks): the order is paid -> its division is written. (Its
    completion sends the stores' shares to the provider: `jobs_split.order_completed`.)"""
    if action == "pay":
        record_sale(order)


def order_refunded(request: RefundRequest) -> None:
    """Refund listener (storefront hooks.refund_listeners)."""
    record_refund(request)


# -- reads ------------------------------------------------------------------------------------


def split_of(order: ConsumerOrder) -> dict[str, int]:
    """The order's current division: net cents per party (after refunds)."""
    totals: dict[str, int] = defaultdict(int)
    for row in _rows(order):
        totals[row.party] += row.amount_cents
    return {party: totals[party] for party in PARTY_ORDER if party in totals}


@dataclass(frozen=True)
class SplitLine:
    """One party's share of an order as a page shows it."""

    party: str
    org_id: int | None
    org_code: str
    org_name: str
    sale_cents: int
    refund_cents: int

    @property
    def net_cents(self) -> int:
        return self.sale_cents + self.refund_cents


def org_names(org_ids: set[int]) -> dict[int, tuple[str, str]]:
    if not org_ids:
        return {}
    return {
        row.id: (row.code, row.name)
        for row in db.session.execute(
            select(Organization.id, Organization.code, Organization.name).where(
                in_ids(Organization.id, org_ids)
            )
        )
    }


def order_lines(order: ConsumerOrder) -> list[SplitLine]:
    """The order's shares per party and org: sold, refunded and net."""
    sums: dict[tuple[str, int | None], list[int]] = defaultdict(lambda: [0, 0])
    for row in _rows(order):
        sums[(row.party, row.org_id)][0 if row.kind == SALE else 1] += row.amount_cents
    names = org_names({org for _party, org in sums if org is not None})
    return [
        SplitLine(party, org, *names.get(org or 0, ("", "")), sale, refund)
        for (party, org), (sale, refund) in sorted(
            sums.items(), key=lambda item: PARTY_ORDER.index(item[0][0])
        )
    ]


@dataclass(frozen=True)
class PeriodRow:
    """One party's (and org's) shares of a brand's consumer orders in a period."""

    brand_id: int
    party: str
    org_id: int | None
    org_code: str
    org_name: str
    orders: int
    sale_cents: int
    refund_cents: int
    currency: str = "CNY"

    @property
    def net_cents(self) -> int:
        return self.sale_cents + self.refund_cents


def period_totals(
    brand_id: int | None, start: datetime, end: datetime, *, org_id: int | None = None
) -> list[PeriodRow]:
    """Rows written from `start` (included) to `end` (excluded), summed per party and org:
    a brand's (`brand_id`), one org's in every brand (`org_id`), or both filters. A refund
    counts in the period it was made, like the account entries it posted."""
    sale = func.sum(case((OrderSplit.kind == SALE, OrderSplit.amount_cents), else_=0))
    refund = func.sum(case((OrderSplit.kind == REFUND, OrderSplit.amount_cents), else_=0))
    stmt = (
        select(
            OrderSplit.brand_id,
            OrderSplit.party,
            OrderSplit.org_id,
            func.count(func.distinct(OrderSplit.consumer_order_id)),
            sale,
            refund,
            OrderSplit.currency,
        )
        .where(OrderSplit.created_at >= start, OrderSplit.created_at < end)
        .group_by(OrderSplit.brand_id, OrderSplit.party, OrderSplit.org_id, OrderSplit.currency)
    )
    if brand_id is not None:
        stmt = stmt.where(OrderSplit.brand_id == brand_id)
    if org_id is not None:
        stmt = stmt.where(OrderSplit.org_id == org_id)
    found = db.session.execute(stmt).all()
    names = org_names({row[2] for row in found if row[2] is not None})
    rows = [
        PeriodRow(b, party, org, *names.get(org or 0, ("", "")), n, int(s or 0), int(r or 0), cur)
        for b, party, org, n, s, r, cur in found
    ]
    return sorted(rows, key=lambda r: (r.brand_id, PARTY_ORDER.index(r.party), r.org_code))


def period_rows(
    brand_id: int | None, start: datetime, end: datetime, *, org_id: int | None = None
) -> list[tuple[OrderSplit, str]]:
    """Every row of the period with its order's number, in time order (the CSV export)."""
    stmt = (
        select(OrderSplit, ConsumerOrder.number)
        .join(ConsumerOrder, ConsumerOrder.id == OrderSplit.consumer_order_id)
        .where(OrderSplit.created_at >= start, OrderSplit.created_at < end)
        .order_by(OrderSplit.created_at, OrderSplit.id)
    )
    if brand_id is not None:
        stmt = stmt.where(OrderSplit.brand_id == brand_id)
    if org_id is not None:
        stmt = stmt.where(OrderSplit.org_id == org_id)
    return [(row, number) for row, number in db.session.execute(stmt).all()]


# -- provider profit sharing -----------------------------------------------------------------


def receiver_account(brand_id: int, org_id: int) -> str:
    """The store's receiver account at the payment provider (its store shop's
    `profit_share_account`), "" when it has none (no shop, or no account given)."""
    account = db.session.execute(
        select(StoreShop.profit_share_account).where(
            StoreShop.brand_id == brand_id, StoreShop.org_id == org_id
        )
    ).scalar_one_or_none()
    return str(account or "").strip()


def shares_to_send(order: ConsumerOrder) -> list[tuple[str, int, str, int]]:
    """(party, org id, receiver account, cents) of each store share worth sending: net of
    refunds, positive, with a receiver account, capped at what the provider took."""
    sums: dict[tuple[str, int], int] = defaultdict(int)
    for row in _rows(order):
        if row.party in POSTED_PARTIES and row.org_id is not None:
            sums[(row.party, row.org_id)] += row.amount_cents
    wanted = []
    for (party, org_id), cents in sorted(sums.items(), key=lambda i: PARTY_ORDER.index(i[0][0])):
        if cents <= 0 or org_id == order.brand_id:
            continue
        account = receiver_account(order.brand_id, org_id)
        if account:
            wanted.append((party, org_id, account, cents))
    return wanted


def share_with_provider(order: ConsumerOrder) -> dict[str, Any]:
    """Ask the order's payment provider to send the stores' shares to their receiver accounts
    (once: our reference is "S<order number>", which the provider never pays twice). Only the
    money the provider collected can be shared: points and wallet cannot, so the shares are cut
    to the provider's amount (less its refunds) in party order. Returns what happened."""
    payment = payment_of(order)
    if payment is None or not payment.provider_transaction_id:
        return {"order": order.number, "state": "no provider payment"}
    room = max(0, payment.amount_cents - fee_of(payment.amount_cents) - order.refunded_cents)
    receivers = []
    wanted = shares_to_send(order)
    for party, _org_id, account, cents in wanted:
        amount = min(cents, room)
        if amount <= 0:
            break
        room -= amount
        receivers.append(
            ShareReceiver(
                account=account,
                amount_cents=amount,
                description=f"{order.number} {party.replace('_', ' ')}",
            )
        )
    if not receivers:
        return {"order": order.number, "state": "nothing to share"}
    request = ShareRequest(
        reference=f"S{order.number}"[:64],
        payment_reference=payment.reference,
        transaction_id=payment.provider_transaction_id,
        receivers=tuple(receivers),
        currency=payment.currency,
    )
    result = provider_named(payment.provider).share_profit(request)
    if result.state != ShareState.FAILED:
        _paid_out(order, receivers, payment.provider, wanted)
    return {
        "order": order.number,
        "state": result.state.value,
        "share_id": result.provider_share_id,
        "message": result.message,
        "receivers": [(r.account, r.amount_cents) for r in receivers],
        "done": result.state != ShareState.FAILED,
    }
