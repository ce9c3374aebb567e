"""A consumer bound to a guide: the guide's customer, credited with the consumer's sales that no
code or recent link names (attribution's third rule).

How a consumer becomes bound is the brand's `guides.binding` (policy): `none`; `first_purchase`,
their first order bought through a guide's link or with a guide's code; `first_visit`, the first
guide link they open (signed in, or, opened before signing in, at their first order from that
browser); `registration`, a guide's code given when they sign up. The first binding stands: a
later link or code does not move a bound customer. A binding lasts `guides.binding_days` from
when it was made (empty: until the guide stops); once it has run out the next qualifying event
binds again. A stopped guide's bindings end.

Nobody is bound to a sharer (`Guide.is_sharer`: HQ's community operators, stylists, customer
service): their links and codes bind in no mode, and a guide made a sharer loses their bound
customers (portal/campaigns/sharers.py ends them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from portal.core.db import utcnow
from portal.extensions import db
from portal.guides.models import BindingMode, Guide, GuideBinding, GuideStatus
from portal.policy.consumer_terms import GuideTerms
from portal.storefront.models import Consumer


def open_binding(
    brand_id: int, consumer_id: int, *, at: datetime | None = None
) -> GuideBinding | None:
    """The consumer's binding in force in the brand at `at` (now), to an active guide."""
    at = at or utcnow()
    return db.session.execute(
        select(GuideBinding)
        .join(Guide, Guide.id == GuideBinding.guide_id)
        .where(
            GuideBinding.brand_id == brand_id,
            GuideBinding.consumer_id == consumer_id,
            GuideBinding.ended_at.is_(None),
            GuideBinding.bound_at <= at,
            or_(GuideBinding.expires_at.is_(None), GuideBinding.expires_at > at),
            Guide.status == GuideStatus.ACTIVE,
        )
        .order_by(GuideBinding.bound_at.desc(), GuideBinding.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def _lock_consumer(consumer_id: int) -> None:
    """Two checkouts of one consumer at once bind once (PostgreSQL): the consumer's row is the
    lock. FOR NO KEY UPDATE, so it does not wait on the light lock a new order of the same
    consumer holds on it."""
    db.session.execute(
        select(Consumer.id).where(Consumer.id == consumer_id).with_for_update(key_share=True)
    ).scalar_one()


def bind(
    terms: GuideTerms,
    brand_id: int,
    consumer: Consumer,
    guide: Guide,
    mode: str,
    *,
    at: datetime | None = None,
) -> GuideBinding | None:
    """Bind the consumer to the guide when the brand binds this way (`mode` is its
    `terms.binding`), the guide is an active guide (never a sharer) and the consumer has no
    binding in force; else nothing (None). A binding that ran out is closed at its end first."""
    if mode == BindingMode.NONE or terms.binding != mode or not guide.is_active:
        return None
    if guide.is_sharer:
        return None
    at = at or utcnow()
    _lock_consumer(consumer.id)
    if open_binding(brand_id, consumer.id, at=at) is not None:
        return None
    _close_lapsed(brand_id, consumer.id, at)
    binding = GuideBinding(
        brand_id=brand_id,
        consumer_id=consumer.id,
        guide_id=guide.id,
        mode=mode,
        bound_at=at,
        expires_at=at + timedelta(days=terms.binding_days) if terms.binding_days else None,
    )
    db.session.add(binding)
    db.session.flush()
    return binding


def _close_lapsed(brand_id: int, consumer_id: int, at: datetime) -> None:
    """Bindings left open past their end (or to a stopped guide) are closed, so one consumer has
    at most one open binding per brand."""
    lapsed = list(
        db.session.execute(
            select(GuideBinding)
            .join(Guide, Guide.id == GuideBinding.guide_id)
            .where(
                GuideBinding.brand_id == brand_id,
                GuideBinding.consumer_id == consumer_id,
                GuideBinding.ended_at.is_(None),
            )
        ).scalars()
    )
    for binding in lapsed:
        ended = binding.expires_at if binding.expires_at is not None else at
        binding.ended_at = min(ended, at)


def unbind(binding: GuideBinding, *, at: datetime | None = None) -> None:
    """End a binding now (HQ's correction, or a later rule replacing it)."""
    if binding.ended_at is None:
        binding.ended_at = at or utcnow()
        db.session.flush()


def end_bindings_of(guide: Guide, *, at: datetime | None = None) -> int:
    """A stopped guide's open bindings end now; how many did."""
    result = db.session.execute(
        update(GuideBinding)
        .where(GuideBinding.guide_id == guide.id, GuideBinding.ended_at.is_(None))
        .values(ended_at=at or utcnow())
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def consumer_erased(consumer: Consumer) -> None:
    """hooks.consumer_erased: an erased consumer is nobody's customer any more."""
    db.session.execute(
        update(GuideBinding)
        .where(GuideBinding.consumer_id == consumer.id, GuideBinding.ended_at.is_(None))
        .values(ended_at=utcnow())
        .execution_options(synchronize_session="fetch")
    )
