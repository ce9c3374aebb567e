"""Which guide a sale counts for (DESIGN §7), decided once when an order is placed or a till's
sale reported, and written as one `Attribution` row (none when no rule finds a guide):

1. **Code**: a guide's code the consumer typed at checkout (or the till sent). A code nobody has,
   a stopped guide's, or another brand's is refused with the error on `guide_code` and nothing
   is written; another brand's counts only when the selling brand's terms allow guides of other
   brands (`guides.cross_brand`) and both brands share one membership programme.
2. **Staff**: the order was placed in a store by one of its people for a walk-in customer
   (endless aisle): that person, as a guide of the brand.
3. **Link**: the newest guide link opened in this brand's shop within `guides.window_days`
   (default 7, at most 30) before the order, by the signed-in consumer or, before they signed
   in, by the same browser. A visit exactly `window_days` old still counts; a second older does
   not. Till sales have no links.
4. **Binding**: the guide the consumer is bound to (bindings.py).

Stopped guides count under no rule. The sale counts under the selling brand's terms whichever
brand the guide belongs to. A guide's own purchase (the consumer's e-mail, or their membership's,
is the guide's login e-mail: portal users have no phone to compare) is attributed but earns
nothing unless the brand allows it (`guides.own_purchase_earns`); it then records the sale's
`basis_cents` with `commission_cents` 0. What it earns otherwise is counted now by
`rates.order_commission` / `rates.sale_commission`, after the members' steps have taken coupons
off the lines.

Binding follows the brand's mode: on `first_purchase` an order attributed by code or link binds
a consumer not bound yet; on `first_visit` an order attributed by a link opened before signing
in binds to that link's guide (a link opened signed in bound at once); on `registration` a code
given at sign-up binds (`consumer_signed_up`). A guide's own purchase binds no one.

**Sharers** (`Guide.kind` one of SHARER_KINDS: HQ's community operators, stylists, customer
service) stand outside every rule above. Their links and code record who shared, for their own
figures and the campaigns' reports (portal/campaigns/sharers.py), and nothing else:
- a sharer's code typed at checkout (or sent by a till) attributes nothing and is no error: the
  sale follows rules 2-4 as if no code had been typed; a stopped sharer's code is refused like a
  stopped guide's;
- the Link rule looks only at guides' links: the newest visit it considers is a guide's, so a
  sharer's link opened after a guide's within the window leaves the sale with the guide;
- a sharer never becomes the staff person of rule 2, and no consumer is ever bound to a sharer
  (first visit, first purchase or registration: bindings.bind refuses), so a sharer's link never
  moves a bound customer;
- a sharer earns no commission: no attribution, so no earning, and no new-member bonus; what a
  sharer earns is a campaign task's reward only (CommissionKind.REWARD, portal/campaigns).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, true

from portal.core.db import utcnow
from portal.core.errors import PermissionDenied
from portal.extensions import db
from portal.guides import bindings, commission, rates, roster
from portal.guides.models import (
    Attribution,
    AttributionRule,
    BindingMode,
    Guide,
    GuideBinding,
    GuideKind,
    GuideStatus,
    GuideVisit,
)
from portal.inventory.models import Location
from portal.members import membership
from portal.members.employee_models import Entitlement
from portal.members.ledger_models import PosSale
from portal.members.models import Member
from portal.network.models import Membership, Organization, User
from portal.policy.consumer_terms import ProgramTerms, terms_for
from portal.storefront.hooks import CheckoutContext
from portal.storefront.models import Consumer, ConsumerOrder


@dataclass(frozen=True)
class Found:
    guide: Guide
    rule: str
    visit: GuideVisit | None = None
    binding: GuideBinding | None = None


# -- the rules --------------------------------------------------------------------------------


def find_link_visit(
    brand_id: int,
    window_days: int,
    *,
    consumer_id: int | None,
    visitor: str | None,
    at: datetime | None = None,
    kinds: tuple[str, ...] | None = (GuideKind.GUIDE,),
) -> GuideVisit | None:
    """The newest visit of an active guide's link in the brand's shop from `at - window_days`
    (inclusive) to `at`: the consumer's own, or this browser's made while nobody (or the same
    consumer) was signed in. Only links of guides of `kinds` count (guides' by default: the Link
    rule; None: guides' and sharers' alike, for the campaigns' channel)."""
    at = at or utcnow()
    whose = []
    if consumer_id is not None:
        whose.append(GuideVisit.consumer_id == consumer_id)
    if visitor:
        whose.append(
            and_(
                GuideVisit.visitor == visitor,
                or_(GuideVisit.consumer_id.is_(None), GuideVisit.consumer_id == consumer_id)
                if consumer_id is not None
                else GuideVisit.consumer_id.is_(None),
            )
        )
    if not whose:
        return None
    return db.session.execute(
        select(GuideVisit)
        .join(Guide, Guide.id == GuideVisit.guide_id)
        .where(
            GuideVisit.brand_id == brand_id,
            GuideVisit.opened_at >= at - timedelta(days=window_days),
            GuideVisit.opened_at <= at,
            Guide.status == GuideStatus.ACTIVE,
            Guide.kind.in_(kinds) if kinds is not None else true(),
            or_(*whose),
        )
        .order_by(GuideVisit.opened_at.desc(), GuideVisit.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _staff_guide(user_id: int, brand_id: int, shop_org_id: int | None) -> Guide | None:
    """The person who placed the order for a walk-in customer, as an active guide of the brand:
    at the selling store, else at the first org of theirs where they guide for the brand (made
    on first use either way: staff need not have opened their guide page first). A sharer is
    nobody's staff guide."""
    guide = _placing_guide(user_id, brand_id, shop_org_id)
    return guide if guide is not None and not guide.is_sharer else None


def _placing_guide(user_id: int, brand_id: int, shop_org_id: int | None) -> Guide | None:
    """The placing person's active guide record of the brand (of any kind), as `_staff_guide`
    says."""
    found = db.session.execute(
        select(Guide)
        .where(Guide.user_id == user_id, Guide.brand_id == brand_id)
        .order_by((Guide.org_id == (shop_org_id or 0)).desc(), Guide.id)
        .limit(1)
    ).scalar_one_or_none()
    if found is not None and (shop_org_id is None or found.org_id == shop_org_id):
        return found if found.is_active else None
    orgs = [shop_org_id] if shop_org_id is not None else []
    orgs += list(
        db.session.execute(
            select(Membership.org_id).where(Membership.user_id == user_id).order_by(Membership.id)
        ).scalars()
    )
    for org_id in orgs:
        try:
            guide = roster.guide_for(user_id, org_id, brand_id)
        except PermissionDenied:
            continue  # not a guide's role there, or the org does not sell the brand
        if guide is not None:
            return guide if guide.is_active else None
    return found if found is not None and found.is_active else None


def decide(
    brand: Organization,
    terms: ProgramTerms,
    *,
    guide_code: str | None,
    consumer: Consumer | None,
    visitor: str | None = None,
    placed_by_user_id: int | None = None,
    shop_org_id: int | None = None,
    at: datetime | None = None,
    named: Guide | None = None,
) -> Found | None:
    """The rule that finds a guide first, in the order above (module docstring). Raises
    ValidationFailed naming `guide_code` for a code that does not count here. `named`: the
    guide a checked code named already (check_code), not looked up again. A sharer's code
    counts under no rule: the others are tried as if no code had been typed."""
    coded = named
    if coded is None and guide_code and guide_code.strip():
        coded = roster.find_by_code(brand, guide_code, terms)
    if coded is not None and not coded.is_sharer:
        return Found(coded, AttributionRule.CODE)
    if placed_by_user_id is not None:
        staff = _staff_guide(placed_by_user_id, brand.id, shop_org_id)
        if staff is not None:
            return Found(staff, AttributionRule.STAFF)
    consumer_id = consumer.id if consumer is not None else None
    visit = find_link_visit(
        brand.id, terms.guides.window_days, consumer_id=consumer_id, visitor=visitor, at=at
    )
    if visit is not None:
        return Found(visit.guide, AttributionRule.LINK, visit=visit)
    if consumer_id is not None:
        binding = bindings.open_binding(brand.id, consumer_id, at=at)
        if binding is not None:
            return Found(binding.guide, AttributionRule.BINDING, binding=binding)
    return None


def is_own_purchase(guide: Guide, *emails: str | None, member_id: int | None = None) -> bool:
    """Whether the buyer is the guide: one of the buyer's e-mails is the guide's login e-mail,
    or the buyer's membership was let into the employee store as this very portal user (an
    employee proves who they are once; portal users have no phone number to compare)."""
    login = db.session.execute(select(User.email).where(User.id == guide.user_id)).scalar_one()
    mine = (login or "").strip().lower()
    if mine and any((e or "").strip().lower() == mine for e in emails):
        return True
    if member_id is None:
        return False
    proven = db.session.execute(
        select(Entitlement.id)
        .where(
            Entitlement.member_id == member_id,
            Entitlement.user_id == guide.user_id,
        )
        .limit(1)
    ).first()
    return proven is not None


def _consumer_emails(consumer: Consumer) -> tuple[str | None, ...]:
    member = membership.member_of(consumer)
    return (consumer.email, member.email if member is not None else None)


def _bind_after_sale(
    terms: ProgramTerms, brand_id: int, consumer: Consumer, found: Found, own: bool
) -> None:
    if own:
        return
    mode = terms.guides.binding
    by_sale = mode == BindingMode.FIRST_PURCHASE and found.rule in (
        AttributionRule.CODE,
        AttributionRule.LINK,
    )
    by_visit = mode == BindingMode.FIRST_VISIT and found.visit is not None
    if by_sale or by_visit:
        bindings.bind(terms.guides, brand_id, consumer, found.guide, mode)


# -- checkout hooks ---------------------------------------------------------------------------


def check_code(context: CheckoutContext) -> None:
    """checkout_before_place: a guide code that does not count here is refused before anything
    is written (ValidationFailed naming `guide_code`). A sharer's code is kept in
    `context.guide` too (the campaigns' channel reads it); `decide` passes it by."""
    code = context.extras.guide_code
    if code and code.strip():
        context.guide = roster.find_by_code(context.brand, code)


def after_place(context: CheckoutContext, order: ConsumerOrder) -> None:
    """checkout_after_place (after the members' steps: coupons are off the lines by now): find
    the order's guide and write its attribution, with what the order earns them; bind the
    consumer when the brand's mode says so."""
    brand = context.brand
    terms = terms_for(brand.id)
    found = decide(
        brand,
        terms,
        guide_code=context.extras.guide_code,
        named=context.guide,
        consumer=context.consumer,
        visitor=context.extras.visitor,
        placed_by_user_id=order.placed_by_user_id or context.placed_by_user_id,
        shop_org_id=order.shop_org_id or context.shop_org_id,
    )
    if found is None:
        return
    own = is_own_purchase(
        found.guide,
        *_consumer_emails(context.consumer),
        member_id=context.consumer.member_id,
    )
    earns = not own or terms.guides.own_purchase_earns
    basis, commission = rates.order_commission(terms.commission, order)
    db.session.add(
        Attribution(
            brand_id=brand.id,
            guide_id=found.guide.id,
            guide_org_id=found.guide.org_id,
            consumer_order_id=order.id,
            rule=found.rule,
            visit_id=found.visit.id if found.visit is not None else None,
            binding_id=found.binding.id if found.binding is not None else None,
            own_purchase=own,
            earns=earns,
            basis_cents=basis,
            commission_cents=commission if earns else 0,
            created_at=utcnow(),
        )
    )
    db.session.flush()
    _bind_after_sale(terms, brand.id, context.consumer, found, own)


def consumer_signed_up(consumer: Consumer, guide_code: str | None) -> None:
    """consumer_signed_up: a guide's code given at sign-up binds the new consumer when the brand
    binds at registration. A code that does not count in the brand is refused
    (ValidationFailed naming `guide_code`), whatever the mode, so a typo is seen."""
    if not guide_code or not guide_code.strip():
        return
    brand = consumer.brand
    terms = terms_for(brand.id)
    guide = roster.find_by_code(brand, guide_code, terms)
    # A sharer's code is no error either; bind() binds nobody to a sharer.
    bindings.bind(terms.guides, brand.id, consumer, guide, BindingMode.REGISTRATION)


def member_joined(member: Member, consumer: Consumer) -> None:
    """membership.joined_listeners: a new member earns the brand's new-member bonus for the
    guide who signed them up: the store person who enrolled them at the store, else the guide
    whose code they gave when their account was made (a binding made at registration)."""
    guide = None
    if member.joined_by_user_id is not None and member.joined_location_id is not None:
        store_id = db.session.execute(
            select(Location.org_id).where(Location.id == member.joined_location_id)
        ).scalar_one_or_none()
        if store_id is not None:
            try:
                guide = roster.guide_for(member.joined_by_user_id, store_id, consumer.brand_id)
            except PermissionDenied:
                guide = None  # someone who may not be a guide there: no bonus
    if guide is None:
        binding = bindings.open_binding(consumer.brand_id, consumer.id)
        if binding is not None and binding.mode == BindingMode.REGISTRATION:
            guide = binding.guide
    if guide is not None and guide.is_active and not guide.is_sharer:
        commission.member_joined(member, guide)


# -- till sales (members/pos_sales.sale_listeners) -------------------------------------------


def _sale_consumer(sale: PosSale) -> Consumer | None:
    """The member's account in the selling brand's shop, if any."""
    return db.session.execute(
        select(Consumer)
        .where(Consumer.member_id == sale.member_id, Consumer.brand_id == sale.brand_id)
        .order_by(Consumer.id)
        .limit(1)
    ).scalar_one_or_none()


def pos_sale_recorded(sale: PosSale, guide_code: str | None) -> Attribution | None:
    """A till's new sale: attributed by the code it sent, else by the member's bound guide (a
    till has no links). A code of another store's guide of the brand is fine; one that does not
    count is ValidationFailed naming `guide_code` (the whole report is refused)."""
    brand = db.session.execute(
        select(Organization).where(Organization.id == sale.brand_id)
    ).scalar_one()
    terms = terms_for(brand.id)
    consumer = _sale_consumer(sale)
    found = decide(brand, terms, guide_code=guide_code, consumer=None, at=sale.created_at)
    if found is None and consumer is not None:
        binding = bindings.open_binding(brand.id, consumer.id)
        if binding is not None:
            found = Found(binding.guide, AttributionRule.BINDING, binding=binding)
    if found is None:
        return None
    member_email = db.session.execute(
        select(Member.email).where(Member.id == sale.member_id)
    ).scalar_one_or_none()
    own = is_own_purchase(
        found.guide,
        member_email,
        consumer.email if consumer is not None else None,
        member_id=sale.member_id,
    )
    earns = not own or terms.guides.own_purchase_earns
    attribution = Attribution(
        brand_id=brand.id,
        guide_id=found.guide.id,
        guide_org_id=found.guide.org_id,
        pos_sale_id=sale.id,
        rule=found.rule,
        binding_id=found.binding.id if found.binding is not None else None,
        own_purchase=own,
        earns=earns,
        basis_cents=sale.amount_cents,
        commission_cents=rates.sale_commission(terms.commission, sale.amount_cents) if earns else 0,
        created_at=utcnow(),
    )
    db.session.add(attribution)
    db.session.flush()
    commission.pos_sale_attributed(attribution, sale)
    if consumer is not None:
        _bind_after_sale(terms, brand.id, consumer, found, own)
    return attribution


def attribution_of_order(order_id: int) -> Attribution | None:
    return db.session.execute(
        select(Attribution).where(Attribution.consumer_order_id == order_id)
    ).scalar_one_or_none()
